#include "codec/json_validator.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <bit>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/time.h"

// How an event is read, and which simdjson kernel runs where
// ----------------------------------------------------------
// Two paths give the same Row, and the same error, for every body (the tests
// run both on the same corpora):
//
// - The fast path (ReadFlat) takes simdjson's stage 1 (`iterate_raw`: UTF-8
//   check and the index of structural characters) and walks the index itself:
//   '{', then per field a key string, ':', one scalar, ',' or '}'. A key is
//   compared on its raw bytes with the field the schema lists next, else looked
//   up in a hash table of the names; enum values likewise; numbers and
//   timestamps are parsed from the raw token. It accepts only an event it has
//   checked completely. Anything else (an escape in a string, a nested value,
//   a key the schema lacks, a duplicate, true/false, an exponent, a number too
//   long for the exact conversion, any error) makes it decline, and the
//   general path parses the event from scratch.
// - The general path (ValidateGeneral) is simdjson's on-demand API, and
//   explains every rejection.
//
// Kernels: stage 1 and unescaping run inside libsimdjson, on the kernel it
// picks at run time (haswell here). The on-demand front-end is inlined here,
// and Debian's simdjson 3.0.1 compiles it only for the kernel this file's flags
// allow: `fallback`, as txpipe sets no -march so that the binary runs on any
// x86-64. A second, -mavx2 copy of it picked at run time would need its own
// translation unit, whose inline functions outside simdjson's kernel
// namespaces (std::, fmt::, ours) the linker could pick for generic callers:
// a SIGILL on an older CPU. It would also gain nothing: callgrind counts the
// same instructions per event with the haswell front-end as with fallback.
// The fast path needs no front-end: it is plain C++ (SSE2, part of x86-64, to
// scan bytes). docs/architecture.md ("Parsing events") has the figures.

namespace txpipe::codec {

namespace ondemand = simdjson::ondemand;
using core::FieldSpec;
using core::FieldType;
using core::Value;

std::string_view ReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kEmpty: return "empty";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kInvalidUtf8: return "invalid_utf8";
    case RejectReason::kNotJson: return "not_json";
    case RejectReason::kNotObject: return "not_object";
    case RejectReason::kTooDeep: return "too_deep";
    case RejectReason::kTrailingContent: return "trailing_content";
    case RejectReason::kMissingField: return "missing_field";
    case RejectReason::kDuplicateField: return "duplicate_field";
    case RejectReason::kUnknownField: return "unknown_field";
    case RejectReason::kWrongType: return "wrong_type";
    case RejectReason::kNullNotAllowed: return "null_not_allowed";
    case RejectReason::kNotInEnum: return "not_in_enum";
    case RejectReason::kBadTimestamp: return "bad_timestamp";
    case RejectReason::kOutOfRange: return "out_of_range";
  }
  return "unknown";
}

namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Shows a value's JSON text in an error, shortened: "\"abc\"", "1.5", "{...}".
std::string Shown(ondemand::value& v, ondemand::json_type t) {
  if (t == ondemand::json_type::object) return "{...}";
  if (t == ondemand::json_type::array) return "[...]";
  std::string_view raw = v.raw_json_token();
  while (!raw.empty() && IsJsonSpace(raw.back())) raw.remove_suffix(1);
  if (raw.size() > 40) return fmt::format("{}... ({} bytes)", raw.substr(0, 40), raw.size());
  return std::string(raw);
}

// True when `s` follows JSON's number grammar; simdjson reports both "1e400"
// and "01" as NUMBER_ERROR, and only the first is a range problem.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  while (i < s.size() && IsJsonSpace(s[i])) ++i;
  return i == s.size();
}

// Nesting depth of the array or object starting at `p` (strings skipped), or
// a number > `limit` as soon as it passes `limit`.
size_t NestingDepth(const char* p, const char* end, size_t limit) {
  size_t depth = 0, max = 0;
  for (; p < end; ++p) {
    char c = *p;
    if (c == '"') {
      for (++p; p < end && *p != '"'; ++p) {
        if (*p == '\\') ++p;
      }
    } else if (c == '[' || c == '{') {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return max;
    }
  }
  return max;
}

const char* JsonTypeName(ondemand::json_type t) {
  switch (t) {
    case ondemand::json_type::array: return "array";
    case ondemand::json_type::object: return "object";
    case ondemand::json_type::number: return "number";
    case ondemand::json_type::string: return "string";
    case ondemand::json_type::boolean: return "boolean";
    case ondemand::json_type::null: return "null";
  }
  return "?";
}

// Whether a document whose first token is not '{' is complete, valid JSON.
bool IsValidNonObject(ondemand::document& doc, ondemand::json_type t) {
  simdjson::error_code e = simdjson::SUCCESS;
  switch (t) {
    case ondemand::json_type::array: e = doc.count_elements().error(); break;
    case ondemand::json_type::number: e = doc.get_double().error(); break;
    case ondemand::json_type::string: e = doc.get_string().error(); break;
    case ondemand::json_type::boolean: e = doc.get_bool().error(); break;
    case ondemand::json_type::null: {
      bool is_null = false;
      e = doc.is_null().get(is_null);
      if (!e && !is_null) e = simdjson::INCORRECT_TYPE;
      break;
    }
    case ondemand::json_type::object: break;
  }
  return e == simdjson::SUCCESS;
}

const char* Expected(FieldType t) {
  switch (t) {
    case FieldType::kString: return "a string";
    case FieldType::kInt: return "an integer";
    case FieldType::kFloat: return "a number";
    case FieldType::kTimestamp: return "a timestamp string";
    case FieldType::kEnum: return "a string";
  }
  return "?";
}

// ---- Raw byte helpers for the fast path and the lookup tables ----------------

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The bits of a loaded word that hold its first `n` bytes (n < 8).
uint64_t PrefixMask(size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    return (uint64_t{1} << (8 * n)) - 1;
  } else {
    return n == 0 ? 0 : ~uint64_t{0} << (64 - 8 * n);
  }
}

// Whether [p, p + len) holds a backslash. Reads up to 15 bytes past p + len:
// the caller keeps them readable (simdjson's padding).
bool HasBackslash(const uint8_t* p, size_t len) {
#if defined(__SSE2__)
  const __m128i backslash = _mm_set1_epi8('\\');
  for (size_t i = 0; i < len; i += 16) {
    __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    unsigned hits = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, backslash)));
    if (len - i < 16) hits &= (1u << (len - i)) - 1;
    if (hits != 0) return true;
  }
  return false;
#else
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t w = Load64(p + i) ^ (kOnes * '\\');  // zero bytes where p has '\\'
    uint64_t zero = (w - kOnes) & ~w & kHighs;    // may over-report: declines, never accepts
    if (len - i < 8) zero &= PrefixMask(len - i);
    if (zero != 0) return true;
  }
  return false;
#endif
}

bool IsRawSafe(std::string_view s) {
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c < 0x20) return false;
  }
  return true;
}

// A string known in advance (a field name, an enum value), kept as the 8-byte
// words at offsets 0, 8, 16 and len - 8 (clamped to [0, len - 8]), which
// together cover strings of up to 32 bytes: comparing one of up to 16 bytes
// is two loads, up to 32 four, and only longer ones call memcmp.
struct Key {
  uint32_t len = 0;
  uint64_t mask = ~uint64_t{0};
  uint32_t offset[4] = {};
  uint64_t word[4] = {};
  std::string text;

  explicit Key(std::string_view s) : len(static_cast<uint32_t>(s.size())), text(s) {
    if (len < 8) mask = PrefixMask(len);
    uint8_t padded[40] = {};
    std::memcpy(padded, s.data(), std::min<size_t>(s.size(), 32));
    for (int j = 0; j < 4; ++j) {
      uint32_t at = len < 8 ? 0 : std::min<uint32_t>(j < 3 ? 8 * j : len - 8, len - 8);
      offset[j] = at;
      word[j] = len <= 32 ? Load64(padded + at) & mask : 0;
    }
  }

  // Whether the `len` bytes at p are this key. Reads 8 bytes at p even when
  // len < 8 (the caller keeps them readable); for len >= 8 reads only
  // [p, p + len).
  bool Equals(const uint8_t* p) const {
    uint64_t diff = ((Load64(p) & mask) ^ word[0]) | ((Load64(p + offset[3]) & mask) ^ word[3]);
    if (len > 16) {
      if (len > 32) return std::memcmp(p, text.data(), len) == 0;
      diff |= (Load64(p + offset[1]) ^ word[1]) | (Load64(p + offset[2]) ^ word[2]);
    }
    return diff == 0;
  }
};

// Strings -> their index in a list (which must outlive the table), by open
// addressing. A slot keeps the
// string's length and its first and last 8 bytes, which decide equality for
// strings of up to 16 bytes without reading the candidate again. The
// multiplier is chosen at construction so that the list's strings land in
// distinct slots when one is found (it is for every schema so far): a hit is
// one probe.
class StringTable {
 public:
  struct Slot {
    uint64_t head = 0, tail = 0;
    size_t len = 0;
    int index = -1;         // in the list; -1: an empty slot
    std::string_view text;  // the list's string
  };

  StringTable() = default;  // empty: finds nothing
  explicit StringTable(const std::vector<std::string>& strings) : strings_(&strings) {
    for (const auto& s : strings) keys_.emplace_back(s);
    size_t bits = 3;
    while ((size_t{1} << bits) < 2 * keys_.size()) ++bits;
    uint64_t state = 0x243F6A8885A308D3ull;
    auto next_multiplier = [&state] {  // splitmix64, odd
      uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return (z ^ (z >> 31)) | 1;
    };
    for (size_t extra = 0; extra < 3; ++extra) {
      for (int attempt = 0; attempt < 256; ++attempt) {
        if (TryBuild(bits + extra, next_multiplier(), /*require_perfect=*/true)) return;
      }
    }
    TryBuild(bits, next_multiplier(), /*require_perfect=*/false);
  }

  // The slot of [p, p + len), or nullptr. Reads 8 bytes at p even when len < 8.
  const Slot* FindSlot(const uint8_t* p, size_t len) const {
    if (slots_.empty()) return nullptr;
    uint64_t head = Load64(p);
    if (len < 8) head &= PrefixMask(len);
    uint64_t tail = len >= 8 ? Load64(p + len - 8) : head;
    for (size_t i = Hash(head, tail, len);; i = (i + 1) & slot_mask_) {
      const Slot& slot = slots_[i];
      if (slot.index < 0) return nullptr;
      if (slot.len == len && slot.head == head && slot.tail == tail &&
          (len <= 16 || keys_[slot.index].Equals(p))) {
        return &slot;
      }
    }
  }
  // Index of [p, p + len) in the list, or -1. Reads 8 bytes at p.
  int Find(const uint8_t* p, size_t len) const {
    const Slot* slot = FindSlot(p, len);
    return slot == nullptr ? -1 : slot->index;
  }
  // Same, for strings with no readable bytes after them.
  int Find(std::string_view s) const {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    if (s.size() >= 8) return Find(p, s.size());
    uint8_t copy[8] = {};
    std::memcpy(copy, p, s.size());
    return Find(copy, s.size());
  }

 private:
  size_t Hash(uint64_t head, uint64_t tail, size_t len) const {
    uint64_t x = head ^ std::rotl(tail, 29) ^ (len * 0x9E3779B97F4A7C15ull);
    return static_cast<size_t>((x * multiplier_) >> shift_);
  }
  bool TryBuild(size_t bits, uint64_t multiplier, bool require_perfect) {
    multiplier_ = multiplier;
    shift_ = 64 - static_cast<int>(bits);
    slot_mask_ = (size_t{1} << bits) - 1;
    slots_.assign(size_t{1} << bits, Slot{});
    for (size_t k = 0; k < keys_.size(); ++k) {
      const std::string& s = keys_[k].text;
      const auto* p = reinterpret_cast<const uint8_t*>(s.data());
      Slot slot;
      slot.len = s.size();
      slot.index = static_cast<int>(k);
      slot.text = (*strings_)[k];
      uint8_t copy[8] = {};
      std::memcpy(copy, p, std::min<size_t>(s.size(), 8));
      slot.head = Load64(copy);  // zero past the end: what Find's mask leaves
      slot.tail = s.size() >= 8 ? Load64(p + s.size() - 8) : slot.head;
      size_t i = Hash(slot.head, slot.tail, slot.len);
      if (slots_[i].index >= 0 && require_perfect) return false;
      while (slots_[i].index >= 0) i = (i + 1) & slot_mask_;
      slots_[i] = slot;
    }
    return true;
  }

  const std::vector<std::string>* strings_ = nullptr;
  std::vector<Key> keys_;
  std::vector<Slot> slots_;
  uint64_t multiplier_ = 1;
  int shift_ = 61;
  size_t slot_mask_ = 7;
};

// 10^0 .. 10^22: every one an exact double.
constexpr double kPowersOfTen[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool IsDigit(uint8_t c) { return static_cast<uint8_t>(c - '0') < 10; }

// Reads a JSON number that is exactly [p, end) with no exponent. Gives the
// sign, the decimal digits as an integer (`mantissa`), how many of them follow
// the '.' and whether there was one. False for anything else, and for more than
// 19 digits (which might not fit). The scans stop at the first byte that is not
// a digit, which at the latest is the zero after the body: running past `end`
// only means the token was not a number, and the result is false.
[[gnu::always_inline]] inline bool ReadDecimal(const uint8_t* p, const uint8_t* end, bool* negative,
                                               uint64_t* mantissa, int* fraction_digits,
                                               bool* has_point) {
  *negative = *p == '-';
  p += *negative;
  if (!IsDigit(*p)) return false;
  uint64_t m = 0;
  const uint8_t* first = p;
  if (*p == '0') {
    ++p;  // JSON allows no other leading zero
  } else {
    while (IsDigit(*p)) m = m * 10 + (*p++ - '0');
  }
  int digits = static_cast<int>(p - first);
  *has_point = *p == '.';
  int fraction = 0;
  if (*has_point) {
    const uint8_t* f = ++p;
    while (IsDigit(*p)) m = m * 10 + (*p++ - '0');
    fraction = static_cast<int>(p - f);
    if (fraction == 0) return false;
    digits += fraction;
  }
  if (p != end || digits > 19) return false;
  *mantissa = m;
  *fraction_digits = fraction;
  return true;
}

}  // namespace

class JsonValidator::Impl {
 public:
  Impl(const core::Schema* schema, Options options);
  bool Validate(std::string_view body, core::Row* row, ValidationError* error);

 private:
  // Per schema field, what the fast path needs in one place.
  struct FieldInfo {
    // The name and its closing quote, compared with a key's raw bytes when the
    // field is the one expected next.
    Key quoted_name;
    FieldType type;
    bool nullable;
    StringTable values;  // kEnum: the schema's values
  };

  bool ReadFlat(size_t size, core::Row* row);
  bool ReadScalar(const FieldInfo& f, const uint8_t* p, const uint8_t* end, bool escapes,
                  Value* out) const;

  bool ValidateGeneral(size_t size, core::Row* row, ValidationError* error);
  bool Fail(ValidationError* error, RejectReason reason, std::string_view field,
            std::string message);
  bool CheckValue(int index, ondemand::value value, Value* out, ValidationError* error);
  bool CheckValueSlow(int index, ondemand::value& value, Value* out, ValidationError* error);
  int Lookup(ondemand::field& field, ValidationError* error);
  int EnumIndex(int field, std::string_view value) const {
    return fields_[field].values.Find(value);
  }

  const core::Schema* schema_;
  Options options_;
  std::vector<FieldInfo> fields_;
  std::vector<std::string> field_names_;
  StringTable names_;      // field_names_ -> index
  bool fast_ok_ = false;   // the fast path handles this schema (at most 64 fields)
  uint64_t required_ = 0;  // fields that are not nullable, one bit each (fast path)
  simdjson::ondemand::parser parser_;
  std::unique_ptr<char[]> buffer_;  // body + simdjson padding
  size_t buffer_capacity_ = 0;
  const char* buffer_end_ = nullptr;  // end of the readable (padded) bytes
  std::vector<uint8_t> seen_;
  int next_hint_ = 0;     // fields usually arrive in schema order
  std::string_view key_;  // the key Lookup last matched (for messages)
};

namespace {
std::vector<std::string> FieldNames(const core::Schema& schema) {
  std::vector<std::string> names;
  for (const FieldSpec& f : schema.fields()) names.push_back(f.name);
  return names;
}
}  // namespace

JsonValidator::Impl::Impl(const core::Schema* schema, Options options)
    : schema_(schema),
      options_(options),
      field_names_(FieldNames(*schema)),
      names_(field_names_),
      seen_(schema->size()) {
  for (int f = 0; f < schema->size(); ++f) {
    const FieldSpec& spec = schema->field(f);
    FieldInfo info{Key(spec.name + '"'), spec.type, spec.nullable, StringTable()};
    // A name that JSON must escape can arrive only escaped: compare against
    // control characters, which never start a key's raw bytes (stage 1 rejects
    // them in strings); the key is then looked up, and the general path
    // unescapes it.
    if (!IsRawSafe(spec.name)) info.quoted_name = Key(std::string(spec.name.size() + 1, '\x01'));
    if (spec.type == FieldType::kEnum) info.values = StringTable(spec.values);
    if (!spec.nullable && f < 64) required_ |= uint64_t{1} << f;
    fields_.push_back(std::move(info));
  }
  fast_ok_ = options_.fast_path && schema->size() <= 64;
}

JsonValidator::JsonValidator(const core::Schema* schema, Options options)
    : schema_(schema), impl_(std::make_unique<Impl>(schema, options)) {}
JsonValidator::~JsonValidator() = default;
JsonValidator::JsonValidator(JsonValidator&&) noexcept = default;
JsonValidator& JsonValidator::operator=(JsonValidator&&) noexcept = default;

bool JsonValidator::Validate(std::string_view body, core::Row* row, ValidationError* error) {
  return impl_->Validate(body, row, error);
}

bool JsonValidator::Impl::Validate(std::string_view body, core::Row* row, ValidationError* error) {
  size_t start = 0;
  while (start < body.size() && IsJsonSpace(body[start])) ++start;
  if (start == body.size()) return Fail(error, RejectReason::kEmpty, "", "empty event");
  if (body.size() > options_.max_event_bytes) {
    return Fail(error, RejectReason::kTooLarge, "",
                fmt::format("event of {} bytes is over the limit of {} bytes", body.size(),
                            options_.max_event_bytes));
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy.
  size_t need = body.size() + simdjson::SIMDJSON_PADDING;
  if (need > buffer_capacity_) {
    buffer_capacity_ = std::max(need, buffer_capacity_ * 2);
    buffer_.reset(new char[buffer_capacity_]);
  }
  std::memcpy(buffer_.get(), body.data(), body.size());
  std::memset(buffer_.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
  buffer_end_ = buffer_.get() + need;

  if (fast_ok_ && ReadFlat(body.size(), row)) return true;
  return ValidateGeneral(body.size(), row, error);
}

// One scalar token [p, end) (no whitespace around it) into `out`, exactly as
// the general path would read it; false when the general path must decide.
// `escapes`: whether the body holds a backslash anywhere.
[[gnu::always_inline]] inline bool JsonValidator::Impl::ReadScalar(const FieldInfo& f,
                                                                   const uint8_t* p,
                                                                   const uint8_t* end, bool escapes,
                                                                   Value* out) const {
  // Every member is written: the Row must not depend on the previous event.
  auto set = [out](Value::Kind kind, int64_t i, double d, std::string_view s) {
    out->kind = kind;
    out->i = i;
    out->f = d;
    out->s = s;
  };
  if (*p == 'n') {  // null, and only null: "nul", "nullx" are the general path's to explain
    uint32_t word;
    std::memcpy(&word, p, 4);
    if (end - p != 4 || std::memcmp(&word, "null", 4) != 0 || !f.nullable) return false;
    set(Value::Kind::kNull, 0, 0, {});
    return true;
  }
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kEnum:
    case FieldType::kTimestamp: {
      if (*p != '"' || end - p < 2 || end[-1] != '"') return false;
      const uint8_t* s = p + 1;
      size_t len = static_cast<size_t>(end - 1 - s);
      if (escapes && HasBackslash(s, len)) return false;
      std::string_view text(reinterpret_cast<const char*>(s), len);
      if (f.type == FieldType::kString) {
        set(Value::Kind::kString, 0, 0, text);
      } else if (f.type == FieldType::kEnum) {
        const StringTable::Slot* e = f.values.FindSlot(s, len);
        if (e == nullptr) return false;
        set(Value::Kind::kEnum, e->index, 0, e->text);
      } else {
        int64_t us;
        if (!base::ParseIsoTimestamp(text, &us)) return false;
        set(Value::Kind::kTimestamp, us, 0, {});
      }
      return true;
    }
    case FieldType::kInt: {
      bool negative, point;
      uint64_t m;
      int fraction;
      if (!ReadDecimal(p, end, &negative, &m, &fraction, &point) || point) return false;
      if (m > static_cast<uint64_t>(INT64_MAX)) return false;  // 19 digits: let simdjson judge
      set(Value::Kind::kInt, negative ? -static_cast<int64_t>(m) : static_cast<int64_t>(m), 0, {});
      return true;
    }
    case FieldType::kFloat: {
      bool negative, point;
      uint64_t m;
      int fraction;
      if (!ReadDecimal(p, end, &negative, &m, &fraction, &point)) return false;
      // Exact: m and 10^fraction are exact doubles, and one IEEE division
      // rounds correctly, as simdjson's own conversion does here (Clinger's
      // fast path); so the result is the same double, to the bit.
      if (m > (uint64_t{1} << 53) - 1 || fraction > 22) return false;
      double d = static_cast<double>(m) / kPowersOfTen[fraction];
      set(Value::Kind::kFloat, 0, negative ? -d : d, {});
      return true;
    }
  }
  return false;
}

// The fast path: true when the body is a flat object of known fields, in any
// order, each a string without escapes, a plain decimal or null, and all of it
// valid; `row` is then complete. False when anything is otherwise (`row` may be
// half written); the caller then runs the general path, which decides.
//
// It walks simdjson's structural index: the offset of each structural
// character and of the first byte of each scalar, so a token reaches to the
// next one. Stage 1 has checked UTF-8 and that strings are closed and hold no
// control characters; between a string's closing quote and the next token
// there is only whitespace (anything else would be a token of its own). After
// the last token the index holds the body's length twice (simdjson's own
// on-demand code reads a last token's length that way), and the byte there is
// the zero padding Validate wrote: no check of a token's first byte accepts
// it, so the walk stops at the end without counting tokens.
bool JsonValidator::Impl::ReadFlat(size_t size, core::Row* row) {
  ondemand::json_iterator it;
  if (parser_.iterate_raw(simdjson::padded_string_view(buffer_.get(), size, buffer_capacity_))
          .get(it) != simdjson::SUCCESS) {
    return false;
  }
  const auto* buf = reinterpret_cast<const uint8_t*>(buffer_.get());
  const uint32_t* index = it.position();
  uint32_t span = 0;
  auto next = [&]() -> const uint8_t* {  // the next token; after the last, a zero byte
    uint32_t at = *index++;
    span = *index - at;
    return buf + at;
  };
  // Escapes are rare: one scan of the body spares looking for them in each string.
  const bool escapes = std::memchr(buf, '\\', size) != nullptr;

  const size_t n = fields_.size();
  row->values.resize(n);
  Value* values = row->values.data();
  // While keys come in schema order (`ordered`), fields [0, hint) are the ones
  // seen, once each; after the first key out of order, `seen` says.
  bool ordered = true;
  uint64_t seen = 0;
  size_t hint = 0;
  const uint8_t* t = next();
  if (*t != '{') return false;
  t = next();
  if (*t != '}') {
    for (;;) {
      if (*t != '"') return false;
      const uint8_t* key = t + 1;
      size_t f;
      if (hint < n &&
          (fields_[hint].quoted_name.len <= 32 || span > fields_[hint].quoted_name.len) &&
          fields_[hint].quoted_name.Equals(key)) {
        // The bytes are the name and a quote: that quote closes the key, as
        // the name holds no quote or backslash.
        f = hint;
        if (!ordered) {
          if ((seen >> f) & 1) return false;
          seen |= uint64_t{1} << f;
        }
      } else {  // not the field expected next: look the key up
        const uint8_t* close = t + span;
        while (IsJsonSpace(static_cast<char>(close[-1]))) --close;
        --close;
        if (close < key || *close != '"') return false;
        size_t len = static_cast<size_t>(close - key);
        if (escapes && HasBackslash(key, len)) return false;
        int found = names_.Find(key, len);
        if (found < 0) return false;
        f = static_cast<size_t>(found);
        if (ordered) {
          ordered = false;
          seen = hint == 64 ? ~uint64_t{0} : (uint64_t{1} << hint) - 1;
        }
        if ((seen >> f) & 1) return false;
        seen |= uint64_t{1} << f;
      }
      hint = f + 1;

      if (*next() != ':') return false;
      t = next();
      const uint8_t* end = t + span;
      while (IsJsonSpace(static_cast<char>(end[-1]))) --end;
      if (!ReadScalar(fields_[f], t, end, escapes, &values[f])) return false;

      t = next();
      if (*t == '}') break;
      if (*t != ',') return false;
      t = next();
    }
  }
  if (*index < size) return false;  // trailing content
  if (ordered) seen = hint == 64 ? ~uint64_t{0} : (uint64_t{1} << hint) - 1;
  if ((seen & required_) != required_) return false;
  if (seen != (n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1)) {
    for (size_t f = 0; f < n; ++f) {
      if (((seen >> f) & 1) == 0) values[f] = Value{};  // nullable and absent
    }
  }
  row->event_time_us = values[schema_->event_time_index()].i;
  return true;
}

bool JsonValidator::Impl::Fail(ValidationError* error, RejectReason reason, std::string_view field,
                               std::string message) {
  error->reason = reason;
  error->field.assign(field);
  error->message = std::move(message);
  return false;
}

// Returns the field index of `field`'s key, -1 for a key not in the schema,
// or -2 when the key is not a valid JSON string (error filled).
int JsonValidator::Impl::Lookup(ondemand::field& field, ValidationError* error) {
  const auto& fields = schema_->fields();
  // Fast path: the field the schema lists next, compared on the raw bytes.
  if (next_hint_ < static_cast<int>(fields.size())) {
    const std::string& want = fields[next_hint_].name;
    const char* raw = field.key().raw();
    if (field.key().unsafe_is_equal(static_cast<size_t>(buffer_end_ - raw), want)) {
      key_ = want;
      return next_hint_;
    }
  }
  std::string_view key;
  if (auto e = field.unescaped_key().get(key)) {
    Fail(error, RejectReason::kNotJson, "",
         fmt::format("not JSON: bad field name: {}", simdjson::error_message(e)));
    return -2;
  }
  key_ = key;
  return names_.Find(key);
}

bool JsonValidator::Impl::ValidateGeneral(size_t size, core::Row* row, ValidationError* error) {
  const char* end = buffer_.get() + size;
  size_t need = size + simdjson::SIMDJSON_PADDING;
  ondemand::document doc;
  if (auto e = parser_.iterate(buffer_.get(), size, need).get(doc)) {
    if (e == simdjson::UTF8_ERROR) {
      return Fail(error, RejectReason::kInvalidUtf8, "", "event is not valid UTF-8");
    }
    return Fail(error, RejectReason::kNotJson, "",
                fmt::format("not JSON: {}", simdjson::error_message(e)));
  }
  ondemand::json_type type;
  if (auto e = doc.type().get(type)) {
    return Fail(error, RejectReason::kNotJson, "",
                fmt::format("not JSON: {}", simdjson::error_message(e)));
  }
  if (type != ondemand::json_type::object) {
    // Only a valid JSON text counts as "not an object"; "nope" is not JSON at all.
    if (!IsValidNonObject(doc, type)) {
      return Fail(error, RejectReason::kNotJson, "", "not JSON");
    }
    return Fail(error, RejectReason::kNotObject, "",
                fmt::format("expected a JSON object, got {}", JsonTypeName(type)));
  }
  ondemand::object object;
  if (auto e = doc.get_object().get(object)) {
    return Fail(error, RejectReason::kNotJson, "",
                fmt::format("not JSON: {}", simdjson::error_message(e)));
  }

  const int n = schema_->size();
  row->values.assign(n, Value{});
  std::memset(seen_.data(), 0, seen_.size());
  next_hint_ = 0;
  for (auto item : object) {
    ondemand::field field;
    if (auto e = std::move(item).get(field)) {
      return Fail(error, RejectReason::kNotJson, "",
                  fmt::format("not JSON: {}", simdjson::error_message(e)));
    }
    int index = Lookup(field, error);
    if (index == -2) return false;
    std::string_view key = key_;
    if (index < 0) {
      if (schema_->unknown_fields() == core::UnknownFieldPolicy::kReject) {
        return Fail(error, RejectReason::kUnknownField, key,
                    fmt::format("field '{}': not in schema '{}'", key, schema_->name()));
      }
      // Ignored: simdjson skips the value, but bound its nesting first.
      ondemand::value v = field.value();
      ondemand::json_type vt;
      if (auto e = v.type().get(vt)) {
        return Fail(error, RejectReason::kNotJson, key,
                    fmt::format("field '{}': not JSON: {}", key, simdjson::error_message(e)));
      }
      if (vt == ondemand::json_type::array || vt == ondemand::json_type::object) {
        const char* p = v.raw_json_token().data();
        if (NestingDepth(p, end, options_.max_depth) + 1 > options_.max_depth) {
          return Fail(error, RejectReason::kTooDeep, key,
                      fmt::format("field '{}': nested deeper than {} levels", key,
                                  options_.max_depth));
        }
      }
      continue;
    }
    if (seen_[index]) {
      return Fail(error, RejectReason::kDuplicateField, key,
                  fmt::format("field '{}': appears twice", key));
    }
    seen_[index] = 1;
    next_hint_ = index + 1;
    if (!CheckValue(index, field.value(), &row->values[index], error)) return false;
  }

  auto location = doc.current_location();
  if (location.error() == simdjson::SUCCESS) {
    return Fail(error, RejectReason::kTrailingContent, "",
                "unexpected content after the JSON object (one object per event)");
  }
  for (int i = 0; i < n; ++i) {
    if (seen_[i]) continue;
    const FieldSpec& f = schema_->field(i);
    if (!f.nullable) {
      return Fail(error, RejectReason::kMissingField, f.name,
                  fmt::format("field '{}': missing (required {})", f.name, FieldTypeName(f.type)));
    }
  }
  row->event_time_us = row->values[schema_->event_time_index()].i;
  return true;
}

bool JsonValidator::Impl::CheckValue(int index, ondemand::value v, Value* out,
                                     ValidationError* error) {
  // Fast path: ask simdjson for the type the schema expects. A miss (null, a
  // wrong type, a bad number) takes the slow path, which explains it.
  const FieldSpec& f = schema_->field(index);
  switch (f.type) {
    case FieldType::kString: {
      if (v.get_string().get(out->s) != simdjson::SUCCESS) break;
      out->kind = Value::Kind::kString;
      return true;
    }
    case FieldType::kEnum: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) break;
      int e = EnumIndex(index, s);
      if (e < 0) {
        return Fail(error, RejectReason::kNotInEnum, f.name,
                    fmt::format("field '{}': \"{}\" is not one of: {}", f.name,
                                s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : s,
                                fmt::join(f.values, ", ")));
      }
      out->kind = Value::Kind::kEnum;
      out->i = e;
      out->s = f.values[e];
      return true;
    }
    case FieldType::kTimestamp: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) break;
      std::string why;
      if (!base::ParseIsoTimestamp(s, &out->i, &why)) {
        return Fail(error, RejectReason::kBadTimestamp, f.name,
                    fmt::format("field '{}': \"{}\" is not an RFC 3339 timestamp: {}", f.name,
                                s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : s, why));
      }
      out->kind = Value::Kind::kTimestamp;
      return true;
    }
    case FieldType::kInt: {
      if (v.get_int64().get(out->i) != simdjson::SUCCESS) break;
      out->kind = Value::Kind::kInt;
      return true;
    }
    case FieldType::kFloat: {
      if (v.get_double().get(out->f) != simdjson::SUCCESS) break;
      out->kind = Value::Kind::kFloat;
      return true;
    }
  }
  return CheckValueSlow(index, v, out, error);
}

bool JsonValidator::Impl::CheckValueSlow(int index, ondemand::value& v, Value* out,
                                         ValidationError* error) {
  const FieldSpec& f = schema_->field(index);
  ondemand::json_type t;
  if (auto e = v.type().get(t)) {
    return Fail(error, RejectReason::kNotJson, f.name,
                fmt::format("field '{}': not JSON: {}", f.name, simdjson::error_message(e)));
  }
  if (t == ondemand::json_type::null) {
    bool is_null = false;
    if (v.is_null().get(is_null) || !is_null) {
      return Fail(error, RejectReason::kNotJson, f.name,
                  fmt::format("field '{}': not JSON: bad literal {}", f.name, Shown(v, t)));
    }
    if (!f.nullable) {
      return Fail(error, RejectReason::kNullNotAllowed, f.name,
                  fmt::format("field '{}': null, but the field is not nullable", f.name));
    }
    out->kind = Value::Kind::kNull;
    return true;
  }
  auto wrong_type = [&] {
    if (t == ondemand::json_type::boolean) {
      bool b;
      if (v.get_bool().get(b)) {
        return Fail(error, RejectReason::kNotJson, f.name,
                    fmt::format("field '{}': not JSON: bad literal {}", f.name, Shown(v, t)));
      }
    }
    return Fail(error, RejectReason::kWrongType, f.name,
                fmt::format("field '{}': expected {}, got {} {}", f.name, Expected(f.type),
                            JsonTypeName(t), Shown(v, t)));
  };
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kEnum:
    case FieldType::kTimestamp: {
      // The fast path's get_string failed: a wrong type or a bad string.
      if (t != ondemand::json_type::string) return wrong_type();
      std::string_view ignored;
      simdjson::error_code e = v.get_string().get(ignored);
      return Fail(error, RejectReason::kNotJson, f.name,
                  fmt::format("field '{}': bad string: {}", f.name,
                              simdjson::error_message(e ? e : simdjson::STRING_ERROR)));
    }
    case FieldType::kInt: {
      if (t != ondemand::json_type::number) return wrong_type();
      if (v.get_int64().get(out->i) == simdjson::SUCCESS) {
        out->kind = Value::Kind::kInt;
        return true;
      }
      std::string raw = Shown(v, t);
      if (!IsJsonNumber(raw)) {
        return Fail(error, RejectReason::kNotJson, f.name,
                    fmt::format("field '{}': not JSON: bad number {}", f.name, raw));
      }
      if (raw.find_first_of(".eE") != std::string::npos) {
        return Fail(error, RejectReason::kWrongType, f.name,
                    fmt::format("field '{}': expected an integer, got {}", f.name, raw));
      }
      return Fail(error, RejectReason::kOutOfRange, f.name,
                  fmt::format("field '{}': {} does not fit a 64-bit integer", f.name, raw));
    }
    case FieldType::kFloat: {
      if (t != ondemand::json_type::number) return wrong_type();
      if (v.get_double().get(out->f) == simdjson::SUCCESS) {
        out->kind = Value::Kind::kFloat;
        return true;
      }
      std::string raw = Shown(v, t);
      if (!IsJsonNumber(raw)) {
        return Fail(error, RejectReason::kNotJson, f.name,
                    fmt::format("field '{}': not JSON: bad number {}", f.name, raw));
      }
      return Fail(error, RejectReason::kOutOfRange, f.name,
                  fmt::format("field '{}': {} is out of range for a double", f.name, raw));
    }
  }
  return wrong_type();
}

}  // namespace txpipe::codec
