#include "codec/json_validator.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>
#include <set>

#include "base/time.h"

namespace txpipe::codec {
namespace {

using ::testing::HasSubstr;

// A seed line as Python's json.dumps writes it (Generator.py).
constexpr std::string_view kSeedLine =
    R"({"transaction_id": "T482913", "account_id": "A102938", "transaction_type": "payment", )"
    R"("amount": 1234.5, "currency": "USD", "transaction_date": "2026-11-23T10:08:33.881695Z", )"
    R"("description": "Payment of 1234.5 USD", "branch": "Main Street", "customer_age": 42, )"
    R"("customer_gender": "Female", "account_balance": 20000.0, "transaction_channel": "online", )"
    R"("transaction_status": "completed", "merchant_id": "M4821", "location_city": "London", )"
    R"("location_country": "UK"})";

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = core::BuiltinSchema("finance");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    schema_ = std::make_unique<core::Schema>(std::move(s).value());
    validator_ = std::make_unique<JsonValidator>(schema_.get());
  }

  // GCC 12 warns falsely (-Wrestrict) on "\"" + std::string(...).
  static std::string Quoted(std::string_view s) {
    std::string q;
    q.reserve(s.size() + 2);
    q.push_back('"');
    q.append(s);
    q.push_back('"');
    return q;
  }
  // Replaces `"field": <old value>` in the seed line with `"field": <json>`.
  static std::string With(std::string_view field, std::string_view json) {
    std::string line(kSeedLine);
    std::string key = Quoted(field) + ": ";
    size_t at = line.find(key);
    EXPECT_NE(at, std::string::npos) << field;
    size_t from = at + key.size();
    size_t to = line[from] == '"' ? line.find('"', from + 1) + 1 : line.find_first_of(",}", from);
    line.replace(from, to - from, json);
    return line;
  }
  static std::string Without(std::string_view field) {
    std::string line = With(field, "0");
    std::string key = Quoted(field) + ": 0, ";
    size_t at = line.find(key);
    if (at != std::string::npos) {
      line.erase(at, key.size());
    } else {  // the last field
      key = ", " + Quoted(field) + ": 0";
      line.erase(line.find(key), key.size());
    }
    return line;
  }

  ValidationError Reject(std::string_view body) {
    ValidationError e;
    EXPECT_FALSE(validator_->Validate(body, &row_, &e)) << body.substr(0, 200);
    return e;
  }
  void Accept(std::string_view body) {
    ValidationError e;
    EXPECT_TRUE(validator_->Validate(body, &row_, &e)) << e.message;
  }
  const core::Value& V(std::string_view field) {
    return row_.values[schema_->FieldIndex(field)];
  }

  std::unique_ptr<core::Schema> schema_;
  std::unique_ptr<JsonValidator> validator_;
  core::Row row_;
};

TEST_F(ValidatorTest, SeedLineBecomesATypedRow) {
  Accept(kSeedLine);
  EXPECT_EQ(V("transaction_id").kind, core::Value::Kind::kString);
  EXPECT_EQ(V("transaction_id").s, "T482913");
  EXPECT_EQ(V("transaction_type").kind, core::Value::Kind::kEnum);
  EXPECT_EQ(V("transaction_type").s, "payment");
  EXPECT_EQ(V("transaction_type").i, 3);
  EXPECT_EQ(V("amount").kind, core::Value::Kind::kFloat);
  EXPECT_DOUBLE_EQ(V("amount").f, 1234.5);
  EXPECT_EQ(V("customer_age").kind, core::Value::Kind::kInt);
  EXPECT_EQ(V("customer_age").i, 42);
  EXPECT_DOUBLE_EQ(V("account_balance").f, 20000.0);
  EXPECT_EQ(V("merchant_id").s, "M4821");
  int64_t t = 0;
  ASSERT_TRUE(base::ParseIsoTimestamp("2026-11-23T10:08:33.881695Z", &t));
  EXPECT_EQ(V("transaction_date").kind, core::Value::Kind::kTimestamp);
  EXPECT_EQ(V("transaction_date").i, t);
  EXPECT_EQ(row_.event_time_us, t);
}

TEST_F(ValidatorTest, AcceptsSeedVariants) {
  Accept(With("transaction_date", "\"2026-11-23T10:08:33Z\""));  // zero microseconds
  EXPECT_EQ(row_.event_time_us % 1'000'000, 0);
  Accept(With("merchant_id", "null"));
  EXPECT_TRUE(V("merchant_id").is_null());
  Accept(Without("merchant_id"));  // nullable may be absent
  EXPECT_TRUE(V("merchant_id").is_null());
  Accept(With("amount", "100"));  // an integer is a valid float
  EXPECT_DOUBLE_EQ(V("amount").f, 100.0);
  Accept(std::string(kSeedLine) + "\r\n");
  Accept("  \t" + std::string(kSeedLine));
}

TEST_F(ValidatorTest, FieldsInAnyOrderAndEscapedNames) {
  Accept(
      R"({"location_country": "UK", "location_city": "London", "merchant_id": null, )"
      R"("transaction_status": "failed", "transaction_channel": "ATM", "account_balance": 1000, )"
      R"("customer_gender": "Other", "customer_age": 18, "branch": "Fourth Square", )"
      R"("description": "caf\u00e9 \"quoted\"", "transaction_date": "2026-01-01T00:00:00Z", )"
      R"("currency": "JPY", "amount": 5000.0, "transaction_type": "deposit", )"
      R"("account_id": "A1", "transaction_\u0069d": "T1"})");
  EXPECT_EQ(V("description").s, "caf\xc3\xa9 \"quoted\"");
  EXPECT_EQ(V("transaction_id").s, "T1");
  EXPECT_EQ(V("transaction_status").s, "failed");
}

TEST_F(ValidatorTest, ValidatorIsReusableAfterErrors) {
  Reject("{");
  Reject(With("amount", "\"x\""));
  Accept(kSeedLine);
  EXPECT_EQ(V("transaction_id").s, "T482913");
}

struct Case {
  std::string name;
  std::string body;
  RejectReason reason;
  std::string field;
  std::string message;  // a substring of the message
};

TEST_F(ValidatorTest, EveryErrorKindNamesFieldAndProblem) {
  std::vector<Case> cases = {
      {"empty line", "", RejectReason::kEmpty, "", "empty event"},
      {"blank line", " \t\r", RejectReason::kEmpty, "", "empty event"},
      {"not json", "hello", RejectReason::kNotJson, "", "not JSON"},
      {"not json starting like null", "not json", RejectReason::kNotJson, "", "not JSON"},
      {"not json starting like an array", "[1, 2", RejectReason::kNotJson, "", "not JSON"},
      {"bare number", "42", RejectReason::kNotObject, "", "got number"},
      {"bare null", "null", RejectReason::kNotObject, "", "got null"},
      {"truncated", std::string(kSeedLine.substr(0, 100)), RejectReason::kNotJson, "", "not JSON"},
      {"trailing comma", With("location_country", "\"UK\",") , RejectReason::kNotJson, "",
       "not JSON"},
      {"array", "[1, 2]", RejectReason::kNotObject, "", "expected a JSON object, got array"},
      {"string", "\"abc\"", RejectReason::kNotObject, "", "got string"},
      {"two objects", std::string(kSeedLine) + " {}", RejectReason::kTrailingContent, "",
       "after the JSON object"},
      {"missing", Without("amount"), RejectReason::kMissingField, "amount",
       "field 'amount': missing (required float)"},
      {"duplicate", With("amount", "1.0, \"amount\": 2.0"), RejectReason::kDuplicateField,
       "amount", "field 'amount': appears twice"},
      {"unknown", With("amount", "1.0, \"amout\": 2.0"), RejectReason::kUnknownField, "amout",
       "field 'amout': not in schema 'finance'"},
      {"string for number", With("amount", "\"1234.5\""), RejectReason::kWrongType, "amount",
       "field 'amount': expected a number, got string \"1234.5\""},
      {"number for string", With("account_id", "102938"), RejectReason::kWrongType, "account_id",
       "expected a string, got number 102938"},
      {"float for int", With("customer_age", "42.5"), RejectReason::kWrongType, "customer_age",
       "expected an integer, got 42.5"},
      {"bool for int", With("customer_age", "true"), RejectReason::kWrongType, "customer_age",
       "got boolean true"},
      {"object for float", With("amount", "{\"v\": 1}"), RejectReason::kWrongType, "amount",
       "expected a number, got object {...}"},
      {"deeply nested known field", With("amount", std::string(10000, '[') + std::string(10000, ']')),
       RejectReason::kWrongType, "amount", "got array [...]"},
      {"null", With("amount", "null"), RejectReason::kNullNotAllowed, "amount",
       "field 'amount': null, but the field is not nullable"},
      {"enum", With("currency", "\"usd\""), RejectReason::kNotInEnum, "currency",
       "field 'currency': \"usd\" is not one of: USD, EUR, JPY, GBP"},
      {"timestamp text", With("transaction_date", "\"yesterday\""), RejectReason::kBadTimestamp,
       "transaction_date", "\"yesterday\" is not an RFC 3339 timestamp"},
      {"timestamp no zone", With("transaction_date", "\"2026-11-23T10:08:33\""),
       RejectReason::kBadTimestamp, "transaction_date", "missing time zone"},
      {"timestamp day", With("transaction_date", "\"2026-02-30T10:08:33Z\""),
       RejectReason::kBadTimestamp, "transaction_date", "day out of range"},
      {"timestamp as number", With("transaction_date", "1795428513"), RejectReason::kWrongType,
       "transaction_date", "expected a timestamp string"},
      {"int overflow", With("customer_age", "99999999999999999999"), RejectReason::kOutOfRange,
       "customer_age", "does not fit a 64-bit integer"},
      {"int overflow negative", With("customer_age", "-9223372036854775809"),
       RejectReason::kOutOfRange, "customer_age", "does not fit"},
      {"float overflow", With("amount", "1e400"), RejectReason::kOutOfRange, "amount",
       "1e400 is out of range for a double"},
      {"leading zero", With("amount", "01"), RejectReason::kNotJson, "amount", "bad number 01"},
      {"bad literal", With("customer_age", "tru"), RejectReason::kNotJson, "customer_age",
       "bad literal"},
      {"lone surrogate", With("description", "\"\\ud800\""), RejectReason::kNotJson,
       "description", "bad string"},
      {"non-UTF-8 value", With("description", "\"caf\xe9\""), RejectReason::kInvalidUtf8, "",
       "not valid UTF-8"},
      {"non-UTF-8 key", With("amount", "1.0, \"\xff\xfe\": 1"), RejectReason::kInvalidUtf8, "",
       "not valid UTF-8"},
      {"overlong UTF-8", With("description", "\"\xc0\xaf\""), RejectReason::kInvalidUtf8, "",
       "not valid UTF-8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ValidationError e = Reject(c.body);
    EXPECT_EQ(ReasonName(e.reason), ReasonName(c.reason));
    EXPECT_EQ(e.field, c.field);
    EXPECT_THAT(e.message, HasSubstr(c.message));
  }
}

TEST_F(ValidatorTest, EveryReasonHasADistinctName) {
  std::set<std::string_view> names;
  for (int i = 0; i < kRejectReasonCount; ++i) {
    std::string_view n = ReasonName(static_cast<RejectReason>(i));
    EXPECT_NE(n, "unknown");
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kRejectReasonCount));
}

TEST_F(ValidatorTest, OneMegabyteStringIsKept) {
  std::string big(1'000'000, 'x');
  big[500'000] = 'y';
  Accept(With("description", "\"" + big + "\""));
  EXPECT_EQ(V("description").s, big);
  Accept(kSeedLine);  // and the buffer shrinks back to normal use
}

TEST_F(ValidatorTest, OverTheSizeLimitIsRejectedBeforeParsing) {
  std::string big(2'000'000, 'x');
  ValidationError e = Reject(With("description", "\"" + big + "\""));
  EXPECT_EQ(e.reason, RejectReason::kTooLarge);
  EXPECT_THAT(e.message, HasSubstr("over the limit of 1048576 bytes"));
}

TEST_F(ValidatorTest, ErrorMessagesShortenLongValues) {
  std::string big(5000, 'q');
  ValidationError e = Reject(With("currency", "\"" + big + "\""));
  EXPECT_EQ(e.reason, RejectReason::kNotInEnum);
  EXPECT_LT(e.message.size(), 200u);
}

// A schema that ignores unknown fields: their values are skipped, but
// nesting is still bounded.
class IgnoringValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = core::Schema::FromToml(R"(
name = "t"
event_time = "ts"
key = "id"
unknown_fields = "ignore"
[[fields]]
name = "id"
type = "string"
[[fields]]
name = "ts"
type = "timestamp"
)",
                                    "t.toml");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    schema_ = std::make_unique<core::Schema>(std::move(s).value());
    validator_ = std::make_unique<JsonValidator>(schema_.get());
  }
  std::unique_ptr<core::Schema> schema_;
  std::unique_ptr<JsonValidator> validator_;
  core::Row row_;
  ValidationError error_;
};

TEST_F(IgnoringValidatorTest, SkipsUnknownFieldsOfAnyShape) {
  EXPECT_TRUE(validator_->Validate(
      R"({"id": "a", "extra": {"b": [1, {"c": "]]]"}]}, "ts": "2026-11-23T10:08:33Z", "n": 1})",
      &row_, &error_))
      << error_.message;
  EXPECT_EQ(row_.values[0].s, "a");
}

TEST_F(IgnoringValidatorTest, DeepNestingIsRejected) {
  std::string deep = R"({"id": "a", "ts": "2026-11-23T10:08:33Z", "x": )" +
                     std::string(100'000, '[') + std::string(100'000, ']') + "}";
  EXPECT_FALSE(validator_->Validate(deep, &row_, &error_));
  EXPECT_EQ(error_.reason, RejectReason::kTooDeep);
  EXPECT_EQ(error_.field, "x");
  EXPECT_THAT(error_.message, HasSubstr("nested deeper than 64 levels"));
  // 63 levels inside the event object is fine.
  std::string ok = R"({"id": "a", "ts": "2026-11-23T10:08:33Z", "x": )" + std::string(63, '[') +
                   std::string(63, ']') + "}";
  EXPECT_TRUE(validator_->Validate(ok, &row_, &error_)) << error_.message;
}

// ---- The fast path and the general path agree ---------------------------------
//
// Validate first reads a flat event straight off simdjson's structural index
// and hands anything unusual to the general path (simdjson on-demand), which
// explains every rejection. Options::fast_path = false runs the general path
// alone. On every body below both validators must agree: the same verdict, the
// same Row (every member, doubles to the bit) and the same error.
class PathsAgreeTest : public ::testing::Test {
 public:
  void Use(const core::Schema* schema) {
    fast_ = std::make_unique<JsonValidator>(schema);
    JsonValidator::Options general;
    general.fast_path = false;
    general_ = std::make_unique<JsonValidator>(schema, general);
  }

  // The rows persist across calls, so a value left over from the previous
  // event would show as a difference too.
  void Check(std::string_view body) {
    ValidationError fe, ge;
    bool fast_ok = fast_->Validate(body, &fast_row_, &fe);
    bool general_ok = general_->Validate(body, &general_row_, &ge);
    ++checked_;
    ASSERT_EQ(fast_ok, general_ok)
        << body << "\nfast: " << fe.message << "\ngeneral: " << ge.message;
    if (!fast_ok) {
      ASSERT_EQ(ReasonName(fe.reason), ReasonName(ge.reason)) << body;
      ASSERT_EQ(fe.field, ge.field) << body;
      ASSERT_EQ(fe.message, ge.message) << body;
      return;
    }
    ++accepted_;
    ASSERT_EQ(fast_row_.event_time_us, general_row_.event_time_us) << body;
    ASSERT_EQ(fast_row_.values.size(), general_row_.values.size()) << body;
    for (size_t i = 0; i < fast_row_.values.size(); ++i) {
      const core::Value& a = fast_row_.values[i];
      const core::Value& b = general_row_.values[i];
      ASSERT_EQ(static_cast<int>(a.kind), static_cast<int>(b.kind))
          << "field " << i << ": " << body;
      ASSERT_EQ(a.i, b.i) << "field " << i << ": " << body;
      ASSERT_EQ(std::bit_cast<uint64_t>(a.f), std::bit_cast<uint64_t>(b.f))
          << "field " << i << ": " << a.f << " vs " << b.f << ": " << body;
      ASSERT_EQ(a.s, b.s) << "field " << i << ": " << body;
    }
  }

 protected:
  std::unique_ptr<JsonValidator> fast_, general_;
  core::Row fast_row_, general_row_;
  int checked_ = 0, accepted_ = 0;
};

// JSON texts for a value of each field type: valid ones first, then the
// edge cases and wrong ones.
std::vector<std::string> SampleValues(const core::FieldSpec& f) {
  std::vector<std::string> v;
  switch (f.type) {
    case core::FieldType::kString:
      v = {R"("T482913")",
           R"("A102938")",
           R"("Payment of 1234.5 USD")",
           R"("")",
           "\"caf\xc3\xa9\"",
           R"("a\"b")",
           R"("\u0041\u00e9")",
           R"("back\\slash")",
           R"("tab\there")",
           "\"" + std::string(40, 'x') + "\"",
           R"("\ud800")",
           "42",
           "true",
           "tru",
           "nul",
           "nullx",
           "[\"a\"]",
           "{}"};
      break;
    case core::FieldType::kEnum:
      for (const auto& value : f.values) v.push_back("\"" + value + "\"");
      v.insert(v.end(), {R"("\u0055SD")", R"("")", R"("usd")", R"("UNKNOWN_VALUE_X")",
                         "\"" + f.values[0] + " \"", "\"" + f.values[0] + "\\u0000\"",
                         "\"" + std::string(50, 'q') + "\"", "1", "false", "{\"a\": 1}"});
      break;
    case core::FieldType::kTimestamp:
      v = {R"("2026-11-23T10:08:33.881695Z")",
           R"("2026-11-23T10:08:33Z")",
           R"("2026-11-23T10:08:33.5Z")",
           R"("2026-11-23T10:08:33.123456789Z")",
           R"("2026-11-23T10:08:33.1234567890Z")",
           R"("2026-11-23T10:08:33.Z")",
           R"("2026-11-23t10:08:33z")",
           R"("2026-11-23 10:08:33Z")",
           R"("2026-11-23T12:08:33+02:00")",
           R"("2024-02-29T23:59:60Z")",
           R"("2023-02-29T00:00:00Z")",
           R"("2026-13-01T00:00:00Z")",
           R"("2026-11-23T24:00:00Z")",
           R"("2026-11-23T10:60:00Z")",
           R"("2026-11-23T10:08:61Z")",
           R"("2026-11-23T10:08:33")",
           R"("0000-01-01T00:00:00Z")",
           R"("9999-12-31T23:59:59.999999Z")",
           R"("2026-11-2xT10:08:33Z")",
           R"("2026-11-23T10:08:33.88169xZ")",
           R"("2026-11-23T10:08:33\u005a")",
           R"("yesterday")",
           "1795428513",
           "null"};
      break;
    case core::FieldType::kInt:
      v = {"42",
           "18",
           "0",
           "-0",
           "-7",
           "9223372036854775807",
           "-9223372036854775807",
           "-9223372036854775808",
           "9223372036854775808",
           "99999999999999999999",
           "1234567890123456789",
           "007",
           "1.0",
           "1e2",
           "-",
           "--1",
           "+1",
           "4x",
           "true",
           "\"42\"",
           "null"};
      break;
    case core::FieldType::kFloat:
      v = {"1234.5",
           "4999.99",
           "100",
           "0",
           "-0",
           "-0.0",
           "0.1",
           "0.30000000000000004",
           "20000.0",
           "123.456e2",
           "1E-5",
           "9007199254740991",
           "9007199254740993",
           "9007199254740992.5",
           "12345678901234567890.5",
           "1234567890123456789",
           "0.0000000000000000000001",
           "0.00000000000000000000001",
           "0.0000000000000001",
           "-0.0000000000000001",
           "1.2345678901234567",
           "3.141592653589793238",
           "1e400",
           "-1e400",
           "01.5",
           "1.",
           ".5",
           "+1",
           "1.5x",
           "NaN",
           "-",
           "\"1.5\"",
           "null",
           "[1.5]"};
      break;
  }
  return v;
}

// A body from (key, value) pairs with the given separators.
std::string Body(const std::vector<std::pair<std::string, std::string>>& fields,
                 std::string_view colon, std::string_view comma) {
  std::string s = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) s += comma;
    s += "\"" + fields[i].first + "\"";
    s += colon;
    s += fields[i].second;
  }
  s += "}";
  return s;
}

// Random events of `schema`: mostly valid and in schema order (the fast path's
// case), with every kind of deviation mixed in.
void CheckRandomEvents(PathsAgreeTest* t, const core::Schema& schema, int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto chance = [&rng](int percent) { return static_cast<int>(rng() % 100) < percent; };
  std::vector<std::vector<std::string>> samples;
  for (const auto& f : schema.fields()) samples.push_back(SampleValues(f));
  const std::string_view colons[] = {": ", ":", " : ", ":\t"};
  const std::string_view commas[] = {", ", ",", " , ", "\n,\n"};
  for (int k = 0; k < count; ++k) {
    std::vector<std::pair<std::string, std::string>> fields;
    for (int i = 0; i < schema.size(); ++i) {
      const auto& s = samples[i];
      // Mostly one of the first (valid) samples, sometimes any.
      size_t pick = chance(90) ? rng() % std::min<size_t>(s.size(), 3) : rng() % s.size();
      fields.emplace_back(schema.field(i).name, s[pick]);
      if (schema.field(i).nullable && chance(30)) fields.back().second = "null";
    }
    if (chance(5)) fields.erase(fields.begin() + static_cast<long>(rng() % fields.size()));
    if (chance(3)) fields.push_back(fields[rng() % fields.size()]);
    if (chance(3)) fields.emplace_back("unknown_field", "1");
    if (chance(3) && !fields.empty()) fields.front().first = "transaction_\\u0069d";
    if (chance(10))
      std::shuffle(fields.begin(), fields.end(), rng);
    else if (chance(5))
      std::swap(fields.front(), fields.back());
    bool plain = chance(80);
    std::string body =
        Body(fields, plain ? ": " : colons[rng() % 4], plain ? ", " : commas[rng() % 4]);
    if (chance(5)) body = " \t" + body;
    if (chance(5)) body += chance(50) ? "\n" : "\r\n";
    if (chance(2)) body += chance(50) ? " {}" : "x";
    t->Check(body);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_F(PathsAgreeTest, RandomFinanceEvents) {
  auto s = core::BuiltinSchema("finance");
  ASSERT_TRUE(s.ok());
  Use(&*s);
  CheckRandomEvents(this, *s, 20000, 42);
  // Most are valid, so both paths produce many rows (not only errors).
  EXPECT_GT(accepted_, checked_ / 4) << accepted_ << " of " << checked_;
}

TEST_F(PathsAgreeTest, RandomCarEvents) {
  auto s = core::BuiltinSchema("cars");
  ASSERT_TRUE(s.ok());
  Use(&*s);
  CheckRandomEvents(this, *s, 10000, 7);
  EXPECT_GT(accepted_, checked_ / 4) << accepted_ << " of " << checked_;
}

TEST_F(PathsAgreeTest, EveryByteOfASeedLineMutated) {
  auto s = core::BuiltinSchema("finance");
  ASSERT_TRUE(s.ok());
  Use(&*s);
  const std::string line(kSeedLine);
  const char replacements[] = {'"', '\\', ',', ':', '{', '}', '[',  ']',    ' ',    '0',   '9',
                               'a', '.',  '-', 'e', 'n', 'Z', '\0', '\x01', '\x7f', '\xff'};
  Check(line);
  for (size_t i = 0; i < line.size(); ++i) {
    Check(line.substr(0, i));                         // truncated
    Check(line.substr(0, i) + line.substr(i + 1));    // one byte deleted
    Check(line.substr(0, i) + " " + line.substr(i));  // one space inserted
    for (char c : replacements) {
      std::string m = line;
      m[i] = c;
      Check(m);
    }
    if (HasFatalFailure()) return;
  }
}

TEST_F(PathsAgreeTest, NamesAndValuesThatNeedEscapes) {
  // Keys and enum values JSON must escape, or that are not ASCII: the fast
  // path cannot match them on raw bytes and must leave them to the general path.
  auto s = core::Schema::FromToml(R"(
name = "odd"
event_time = "ts"
key = "id"
[[fields]]
name = "id"
type = "string"
[[fields]]
name = "say \"hi\""
type = "enum"
values = ["caf\u00e9", "a\"b", "back\\slash", "", "x"]
[[fields]]
name = "ts"
type = "timestamp"
[[fields]]
name = "n"
type = "int"
nullable = true
)",
                                  "odd.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Use(&*s);
  for (std::string value : {"\"caf\xc3\xa9\"", R"("caf\u00e9")", R"("a\"b")", R"("back\\slash")",
                            R"("")", R"("x")", R"("\u0078")", R"("y")"}) {
    for (std::string key : {R"(say \"hi\")", R"(say \u0022hi\u0022)", "say hi"}) {
      Check(R"({"id": "a", ")" + key + "\": " + value + R"(, "ts": "2026-11-23T10:08:33Z"})");
      Check(R"({"id": "a", "ts": "2026-11-23T10:08:33Z", "n": 5, ")" + key + "\": " + value + "}");
    }
  }
  EXPECT_GT(accepted_, 0);
}

TEST_F(PathsAgreeTest, UnknownFieldsIgnoredAndWideSchemas) {
  // "ignore": the fast path declines every unknown key; the general path skips it.
  auto ignoring = core::Schema::FromToml(R"(
name = "t"
event_time = "ts"
key = "id"
unknown_fields = "ignore"
[[fields]]
name = "id"
type = "string"
[[fields]]
name = "ts"
type = "timestamp"
)",
                                         "t.toml");
  ASSERT_TRUE(ignoring.ok());
  Use(&*ignoring);
  Check(R"({"id": "a", "extra": 1, "ts": "2026-11-23T10:08:33Z"})");
  Check(R"({"id": "a", "ts": "2026-11-23T10:08:33Z", "x": [1, {"b": "]"}]})");
  Check(R"({"id": "a", "ts": "2026-11-23T10:08:33Z"})");
  EXPECT_EQ(accepted_, 3);

  // Over 64 fields the fast path steps aside; the result is the same.
  std::string toml = "name = \"wide\"\nevent_time = \"f0\"\nkey = \"f1\"\n";
  toml += "[[fields]]\nname = \"f0\"\ntype = \"timestamp\"\n";
  std::string body = R"({"f0": "2026-11-23T10:08:33Z")";
  for (int i = 1; i < 70; ++i) {
    toml += fmt::format("[[fields]]\nname = \"f{}\"\ntype = \"int\"\n", i);
    body += fmt::format(", \"f{}\": {}", i, i);
  }
  auto wide = core::Schema::FromToml(toml, "wide.toml");
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  Use(&*wide);
  Check(body + "}");
  Check(body + ", \"f1\": 1}");
  EXPECT_EQ(fast_row_.values[69].i, 69);
}

TEST_F(PathsAgreeTest, MissingNullableFieldsDoNotKeepThePreviousValue) {
  auto s = core::BuiltinSchema("finance");
  ASSERT_TRUE(s.ok());
  Use(&*s);
  Check(kSeedLine);
  ASSERT_EQ(fast_row_.values[s->FieldIndex("merchant_id")].s, "M4821");
  std::string without(kSeedLine);
  without.erase(without.find(R"("merchant_id": "M4821", )"), 24);
  Check(without);
  EXPECT_TRUE(fast_row_.values[s->FieldIndex("merchant_id")].is_null());
}

}  // namespace
}  // namespace txpipe::codec
