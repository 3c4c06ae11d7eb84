#include "sources/spooldir/text.h"

#include <simdjson.h>

#include <cstdint>

namespace txpipe::sources::spooldir {

namespace {

bool AllAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence at s[0], or 0 when invalid; *bad gets
// the length of the maximal invalid subpart (>= 1) in that case.
size_t Utf8Seq(const unsigned char* s, size_t n, size_t* bad) {
  unsigned char b = s[0];
  if (b < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    if (k >= n) {
      *bad = k;
      return 0;
    }
    unsigned char c = s[k];
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) {
      *bad = k;
      return 0;
    }
  }
  return len;
}

}  // namespace

bool IsValidText(Charset charset, std::string_view s) {
  switch (charset) {
    case Charset::kUtf8:
      return simdjson::validate_utf8(s.data(), s.size());
    case Charset::kAscii:
      return AllAscii(s);
    case Charset::kLatin1:
      return true;
  }
  return true;
}

size_t FirstInvalidByte(Charset charset, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  switch (charset) {
    case Charset::kLatin1:
      return std::string_view::npos;
    case Charset::kAscii:
      for (size_t i = 0; i < s.size(); ++i) {
        if (p[i] >= 0x80) return i;
      }
      return std::string_view::npos;
    case Charset::kUtf8:
      for (size_t i = 0; i < s.size();) {
        size_t bad = 0;
        size_t len = Utf8Seq(p + i, s.size() - i, &bad);
        if (len == 0) return i;
        i += len;
      }
      return std::string_view::npos;
  }
  return std::string_view::npos;
}

size_t DecodeToUtf8(Charset charset, DecodePolicy policy, std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const bool replace = policy != DecodePolicy::kIgnore;
  size_t errors = 0;
  switch (charset) {
    case Charset::kLatin1:
      for (unsigned char c : in) {
        if (c < 0x80) {
          out->push_back(static_cast<char>(c));
        } else {
          out->push_back(static_cast<char>(0xC0 | (c >> 6)));
          out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
      }
      return 0;
    case Charset::kAscii:
      for (unsigned char c : in) {
        if (c < 0x80) {
          out->push_back(static_cast<char>(c));
        } else {
          ++errors;
          if (replace) out->append("\xEF\xBF\xBD");
        }
      }
      return errors;
    case Charset::kUtf8:
      for (size_t i = 0; i < in.size();) {
        size_t bad = 0;
        size_t len = Utf8Seq(p + i, in.size() - i, &bad);
        if (len > 0) {
          out->append(in.data() + i, len);
          i += len;
        } else {
          ++errors;
          if (replace) out->append("\xEF\xBF\xBD");
          i += bad;
        }
      }
      return errors;
  }
  return errors;
}

size_t SplitCut(std::string_view rest, size_t max, bool utf8) {
  if (!utf8 || max >= rest.size()) return max;
  size_t cut = max;
  for (int k = 0; k < 3 && cut > 1; ++k) {
    unsigned char c = static_cast<unsigned char>(rest[cut]);
    if ((c & 0xC0) != 0x80) break;  // rest[cut] starts a character
    --cut;
  }
  if ((static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) return max;  // not UTF-8 anyway
  return cut;
}

std::string_view FindJsonStringField(std::string_view line, std::string_view field) {
  size_t from = 0;
  while (true) {
    size_t q = line.find(field, from);
    if (q == std::string_view::npos) return {};
    from = q + 1;
    if (q == 0 || line[q - 1] != '"') continue;
    size_t i = q + field.size();
    if (i >= line.size() || line[i] != '"') continue;
    ++i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size() || line[i] != ':') continue;
    ++i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size() || line[i] != '"') return {};  // not a string value
    size_t start = ++i;
    while (i < line.size() && line[i] != '"') {
      if (line[i] == '\\') ++i;
      ++i;
    }
    if (i >= line.size()) return {};
    return line.substr(start, i - start);
  }
}

}  // namespace txpipe::sources::spooldir
