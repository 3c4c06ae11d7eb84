// JSON writing helpers: pure, allocation-light appends to a std::string.
#pragma once

#include <string>
#include <string_view>

namespace txpipe::codec {

// Appends `s` as a JSON string literal (with quotes), escaping '"', '\\' and
// control characters (RFC 8259). Bytes >= 0x80 are copied as they are: the
// caller passes UTF-8 (event bodies are checked to be UTF-8 before they get here).
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace txpipe::codec
