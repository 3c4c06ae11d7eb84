// Pure text helpers of the spooldir source: charset checks and conversion to
// UTF-8, the cut point of an over-long line, and the cheap key lookup in a
// JSON line. No I/O; tested on their own (text_test.cc).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace txpipe::sources::spooldir {

enum class Charset { kUtf8, kLatin1, kAscii };
enum class DecodePolicy { kFail, kReplace, kIgnore };

// True when `s` is valid in `charset` (ISO-8859-1: always).
bool IsValidText(Charset charset, std::string_view s);

// Offset of the first byte of `s` that does not decode in `charset`, or npos.
size_t FirstInvalidByte(Charset charset, std::string_view s);

// Converts `in` to UTF-8 into `*out` (cleared first). Undecodable bytes are
// replaced by U+FFFD (kReplace: one per maximal invalid subsequence, as the
// WHATWG decoder does) or dropped (kIgnore). Returns how many invalid
// sequences were met. Not for kFail (callers check IsValidText first).
size_t DecodeToUtf8(Charset charset, DecodePolicy policy, std::string_view in, std::string* out);

// Where to cut the front piece off an over-long line `rest` (size > max):
// `max`, moved back (at most 3 bytes) so a UTF-8 sequence is not cut in two
// when `utf8`. Depends only on the bytes of `rest`, so a reader resuming at a
// cut finds the same later cuts. Always in [1, max].
size_t SplitCut(std::string_view rest, size_t max, bool utf8);

// The string value of top-level-looking key `field` in a JSON line
// (`"field": "value"`), without a full parse: empty when absent, not a
// string, or empty. Escapes are left as they are.
std::string_view FindJsonStringField(std::string_view line, std::string_view field);

}  // namespace txpipe::sources::spooldir
