#include "core/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const Schema& s) {
  std::vector<std::string> out;
  for (const auto& f : s.fields()) out.push_back(f.name);
  return out;
}

TEST(SchemaTest, FinanceIsTheSeedGeneratorsSixteenFields) {
  auto s = BuiltinSchema("finance");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_THAT(Names(*s),
              ElementsAre("transaction_id", "account_id", "transaction_type", "amount", "currency",
                          "transaction_date", "description", "branch", "customer_age",
                          "customer_gender", "account_balance", "transaction_channel",
                          "transaction_status", "merchant_id", "location_city",
                          "location_country"));
  EXPECT_EQ(s->topic(), "finance");
  EXPECT_EQ(s->field(s->event_time_index()).name, "transaction_date");
  EXPECT_EQ(s->field(s->key_index()).name, "account_id");
  const FieldSpec& type = s->field(s->FieldIndex("transaction_type"));
  EXPECT_EQ(type.type, FieldType::kEnum);
  EXPECT_THAT(type.values, ElementsAre("deposit", "withdrawal", "transfer", "payment"));
  EXPECT_TRUE(s->field(s->FieldIndex("merchant_id")).nullable);
  EXPECT_FALSE(s->field(s->FieldIndex("amount")).nullable);
  EXPECT_EQ(s->field(s->FieldIndex("customer_age")).type, FieldType::kInt);
  EXPECT_EQ(s->unknown_fields(), UnknownFieldPolicy::kReject);
  EXPECT_FALSE(s->dimensions().empty());
  for (int m : s->measures()) {
    EXPECT_TRUE(s->field(m).type == FieldType::kFloat || s->field(m).type == FieldType::kInt);
  }
}

TEST(SchemaTest, CarsSchema) {
  auto s = BuiltinSchema("cars");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->topic(), "car-transactions-logs");
  EXPECT_EQ(s->size(), 16);
  EXPECT_EQ(s->field(s->event_time_index()).name, "timestamp");
  EXPECT_EQ(s->field(s->key_index()).name, "customer_id");
  EXPECT_THAT(s->field(s->FieldIndex("payment_method")).values,
              ElementsAre("cash", "card", "loan", "lease"));
  EXPECT_THAT(s->field(s->FieldIndex("status")).values,
              ElementsAre("completed", "pending", "failed", "cancelled"));
}

TEST(SchemaTest, UnknownBuiltinNamesTheChoices) {
  auto s = FindSchema("fiance");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("no schema 'fiance'"));
  EXPECT_THAT(s.status().message(), HasSubstr("finance"));
  auto f = FindSchema("/nonexistent/x.toml");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("/nonexistent/x.toml"));
}

constexpr std::string_view kMinimal = R"(
name = "t"
event_time = "ts"
key = "id"
[[fields]]
name = "id"
type = "string"
[[fields]]
name = "ts"
type = "timestamp"
)";

std::string ErrorOf(std::string_view text) {
  auto s = Schema::FromToml(text, "t.toml");
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : s.status().message();
}

TEST(SchemaTest, MinimalSchemaDefaults) {
  auto s = Schema::FromToml(kMinimal, "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->topic(), "t");  // defaults to the name
  EXPECT_TRUE(s->dimensions().empty());
}

TEST(SchemaTest, ErrorsNameTheKeyPath) {
  std::string base(kMinimal);
  // Top-level keys go before the first [[fields]] table.
  auto top = [](std::string line) { return line + "\n" + std::string(kMinimal); };
  EXPECT_EQ(ErrorOf(top("colour = 1")), "t.toml: colour: unknown key");
  EXPECT_EQ(ErrorOf(base + "[[fields]]\nname = \"x\"\ntype = \"flaot\"\n"),
            "t.toml: fields[2].type: unknown type 'flaot' (expected string, int, float, "
            "timestamp, enum)");
  EXPECT_EQ(ErrorOf(base + "[[fields]]\nname = \"x\"\ntpye = \"int\"\n"),
            "t.toml: fields[2].tpye: unknown key");
  EXPECT_EQ(ErrorOf(base + "[[fields]]\nname = \"id\"\ntype = \"int\"\n"),
            "t.toml: fields[2].name: field 'id' is declared twice");
  EXPECT_EQ(ErrorOf(base + "[[fields]]\nname = \"e\"\ntype = \"enum\"\n"),
            "t.toml: fields[2].values: an enum needs a non-empty list");
  EXPECT_EQ(ErrorOf(base + "[[fields]]\nname = \"e\"\ntype = \"enum\"\nvalues = [\"a\", \"a\"]\n"),
            "t.toml: fields[2].values: 'a' is listed twice");
  EXPECT_EQ(ErrorOf(base + "[[fields]]\nname = \"n\"\ntype = \"int\"\nnullable = \"yes\"\n"),
            "t.toml: fields[2].nullable: expected true or false");
  EXPECT_EQ(ErrorOf(top("measures = [\"id\"]")),
            "t.toml: measures[0]: field 'id' is a string; a measure must be int or float");
  EXPECT_EQ(ErrorOf(top("dimensions = [\"nope\"]")), "t.toml: dimensions[0]: no field 'nope'");
  EXPECT_EQ(ErrorOf(top("unknown_fields = \"keep\"")),
            "t.toml: unknown_fields: 'keep' is not one of: reject, ignore");
  EXPECT_EQ(ErrorOf("name = \"t\"\nevent_time = \"id\"\nkey = \"id\"\n[[fields]]\nname = "
                    "\"id\"\ntype = \"string\"\n"),
            "t.toml: event_time: field 'id' is not a timestamp");
  EXPECT_EQ(ErrorOf("name = \"t\"\n"), "t.toml: fields: missing (required): the list of [[fields]]");
}

TEST(SchemaTest, TomlSyntaxErrorHasLineAndColumn) {
  std::string e = ErrorOf("name = \"t\"\nevent_time = \n");
  EXPECT_THAT(e, HasSubstr("t.toml:2:"));
}

}  // namespace
}  // namespace txpipe::core
