#include "sinks/influxdb/writer.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>

#include "sinks/common/retry.h"
#include "sinks/common/url.h"

namespace txpipe::sinks::influxdb {

using base::Result;
using base::Status;
using common::QueryEscape;

namespace {

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

// InfluxDB's error bodies: {"error":"..."} (1.x) or {"code":..,"message":".."}
// (2.x). The message when it is one of those, else the body (cut short).
std::string ErrorMessage(const std::string& body) {
  for (std::string_view key : {"\"error\":\"", "\"message\":\""}) {
    size_t at = body.find(key);
    if (at == std::string::npos) continue;
    std::string out;
    for (size_t i = at + key.size(); i < body.size() && body[i] != '"'; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) ++i;
      out.push_back(body[i]);
    }
    return out;
  }
  std::string s = body.substr(0, 300);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

Status Gzip(std::string_view in, int level, std::string* out) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("deflateInit2 failed");
  }
  out->resize(deflateBound(&zs, in.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::Internal(fmt::format("deflate: {}", rc));
  out->resize(n);
  return Status::OK();
}

Result<Credentials> LoadCredentials(const InfluxOptions& o, io::Env* env) {
  Credentials c;
  auto from_env = [](const std::string& var, const char* what, std::string* out) -> Status {
    const char* v = std::getenv(var.c_str());
    if (!v || !*v) {
      return Status::InvalidArgument(
          fmt::format("influxdb: {}: environment variable {} is not set (or empty)", what, var));
    }
    *out = v;
    return Status::OK();
  };
  if (!o.token_env.empty()) TXP_RETURN_IF_ERROR(from_env(o.token_env, "token_env", &c.token));
  if (!o.token_file.empty()) {
    auto text = io::ReadFileToString(env, o.token_file);
    if (!text.ok()) {
      return Status::InvalidArgument(
          fmt::format("influxdb: token_file: {}", text.status().message()));
    }
    std::string_view t = *text;
    t = t.substr(0, t.find_first_of("\r\n"));
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.empty()) {
      return Status::InvalidArgument(
          fmt::format("influxdb: token_file: {} has no token on its first line", o.token_file));
    }
    c.token = std::string(t);
  }
  c.username = o.username;
  if (!o.password_env.empty()) {
    TXP_RETURN_IF_ERROR(from_env(o.password_env, "password_env", &c.password));
  }
  return c;
}

Result<std::unique_ptr<Writer>> Writer::Create(const InfluxOptions& o, Credentials credentials,
                                               base::Clock* clock) {
  std::unique_ptr<Writer> w(new Writer());
  w->options_ = o;
  w->clock_ = clock;
  io::HttpClientOptions ho;
  ho.connect_timeout_ms = std::min<int64_t>(o.timeout_ms, 5'000);
  ho.proxy = o.proxy;
  ho.user_agent = "txpipe-influxdb";
  auto h = io::HttpClient::Create(ho);
  if (!h.ok()) return h.status();
  w->http_ = std::move(h).value();
  std::string base = o.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (o.api == "v1") {
    w->write_url_ = fmt::format("{}/write?db={}&precision=ns", base, QueryEscape(o.database));
    if (!o.retention_policy.empty()) w->write_url_ += "&rp=" + QueryEscape(o.retention_policy);
    w->query_url_ = fmt::format("{}/query?q={}", base,
                                QueryEscape(fmt::format("CREATE DATABASE \"{}\"", o.database)));
  } else {
    w->write_url_ = fmt::format("{}/api/v2/write?org={}&bucket={}&precision=ns", base,
                                QueryEscape(o.org), QueryEscape(o.bucket));
  }
  w->shown_url_ = common::RedactUrl(w->write_url_);
  w->headers_.emplace_back("Content-Type", "text/plain; charset=utf-8");
  if (!credentials.token.empty()) {
    w->headers_.emplace_back("Authorization", "Token " + credentials.token);
  } else if (!credentials.username.empty()) {
    w->headers_.emplace_back(
        "Authorization", "Basic " + Base64(credentials.username + ":" + credentials.password));
  }
  return w;
}

Writer::~Writer() = default;

WriteOutcome Writer::Write(std::string_view lines, const base::StopFlag* cancel,
                           std::string_view gzipped) {
  return Post(write_url_, lines, options_.gzip, cancel, gzipped);
}

WriteOutcome Writer::CreateDatabase(const base::StopFlag* cancel) {
  return Post(query_url_, "", false, cancel);
}

WriteOutcome Writer::Post(const std::string& url, std::string_view body, bool compress,
                          const base::StopFlag* cancel, std::string_view gzipped) {
  io::HttpHeaders headers = headers_;
  std::string_view sent = body;
  if (compress && !gzipped.empty()) {
    sent = gzipped;
    headers.emplace_back("Content-Encoding", "gzip");
  } else if (compress) {
    Status s = Gzip(body, 1, &gzip_buf_);
    if (!s.ok()) {
      WriteOutcome failed;
      failed.kind = WriteOutcome::Kind::kFailed;
      failed.message = s.message();
      return failed;
    }
    sent = gzip_buf_;
    headers.emplace_back("Content-Encoding", "gzip");
  }
  last_body_bytes_ = sent.size();
  auto r = http_->Post(url, sent, headers, options_.timeout_ms, cancel);
  WriteOutcome out;
  if (!r.ok()) {
    out.message = r.status().message();
    out.kind = common::ClassifyError(r.status()) == common::Outcome::kRetry
                   ? WriteOutcome::Kind::kRetry
                   : WriteOutcome::Kind::kFailed;
    return out;
  }
  out.status = r->status;
  if (r->status >= 200 && r->status < 300) return out;
  out.message = ErrorMessage(r->body);
  if (auto h = r->header("retry-after")) {
    out.retry_after_ms = common::ParseRetryAfterMs(*h, clock_->NowMicros() / 1000);
  }
  switch (r->status) {
    case 400:
      out.kind = WriteOutcome::Kind::kBadLines;
      return out;
    case 413:
      out.kind = WriteOutcome::Kind::kTooLarge;
      return out;
    case 401:
    case 403:
      out.kind = WriteOutcome::Kind::kStopped;
      return out;
    default:
      out.kind = common::ClassifyHttpStatus(r->status) == common::Outcome::kRetry
                     ? WriteOutcome::Kind::kRetry
                     : WriteOutcome::Kind::kFailed;
      return out;
  }
}

}  // namespace txpipe::sinks::influxdb
