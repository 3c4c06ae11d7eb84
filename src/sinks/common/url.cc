#include "sinks/common/url.h"

#include <fmt/format.h>

#include <cctype>

namespace txpipe::sinks::common {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "scheme://authority/rest" at its parts; false when it is not that shape.
bool SplitUrl(std::string_view url, std::string_view* scheme, std::string_view* authority) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  *scheme = url.substr(0, sep);
  std::string_view rest = url.substr(sep + 3);
  *authority = rest.substr(0, rest.find_first_of("/?#"));
  return true;
}

}  // namespace

base::Status CheckHttpUrl(std::string_view url, std::string_view what) {
  if (url.empty()) return base::Status::InvalidArgument(fmt::format("{}: is required", what));
  std::string_view scheme, authority;
  const bool shaped = SplitUrl(url, &scheme, &authority);
  const std::string s = Lower(scheme);
  if (!shaped || (s != "http" && s != "https")) {
    return base::Status::InvalidArgument(fmt::format(
        "{}: must start with http:// or https://, got '{}'", what, RedactUrl(url)));
  }
  const size_t at = authority.rfind('@');
  const std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (host.empty() || host.front() == ':') {
    return base::Status::InvalidArgument(fmt::format("{}: no host in '{}'", what, RedactUrl(url)));
  }
  for (unsigned char c : url) {
    if (c <= ' ' || c == 0x7f) {
      return base::Status::InvalidArgument(
          fmt::format("{}: holds a space or control character (percent-encode it)", what));
    }
  }
  return base::Status::OK();
}

std::string RedactUrl(std::string_view url) {
  std::string_view scheme, authority;
  if (!SplitUrl(url, &scheme, &authority)) return "<not a URL>";
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string out = fmt::format("{}://{}", scheme, authority);
  if (url.size() >
      scheme.size() + 3 + authority.size() + (at == std::string_view::npos ? 0 : at + 1)) {
    out += "/...";
  }
  return out;
}

std::string QueryEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace txpipe::sinks::common
