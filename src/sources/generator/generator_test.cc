#include "sources/generator/generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "base/time.h"
#include "codec/json_validator.h"

namespace txpipe::sources::generator {
namespace {

// Python prints a float with repr(): the shortest text that reads back as the
// same double, with ".0" added to whole numbers. std::to_chars gives the same
// shortest digits, so it is an independent oracle for WriteCents.
std::string PythonRepr(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

TEST(WriteCentsTest, MatchesPythonReprOfRoundedFloats) {
  char buf[32];
  for (int64_t cents = 0; cents <= 5'000'000; ++cents) {
    std::string got(buf, WriteCents(buf, cents));
    std::string want = PythonRepr(static_cast<double>(cents) / 100.0);
    ASSERT_EQ(got, want) << cents;
  }
}

struct Generated {
  std::vector<std::string> lines;
  std::vector<int64_t> times;
};

Generated Generate(std::string_view kind, uint64_t seed, int n, IdStyle ids = IdStyle::kUnique) {
  auto gen = MakeGenerator(kind, seed, ids);
  EXPECT_TRUE(gen.ok());
  Generated g;
  Buffer buf;
  int64_t t0 = 1795428513LL * 1'000'000;
  for (int i = 0; i < n; ++i) {
    buf.Clear();
    int64_t t = t0 + i * 1000 + (i % 7 == 0 ? 0 : 17);  // some whole seconds, some not
    (*gen)->Append(t, &buf);
    std::string_view line = buf.view();
    EXPECT_EQ(line.back(), '\n');
    g.lines.emplace_back(line.substr(0, line.size() - 1));
    g.times.push_back(t);
  }
  return g;
}

TEST(GeneratorTest, SameSeedSameOutputOtherSeedOther) {
  EXPECT_EQ(Generate("finance", 7, 100).lines, Generate("finance", 7, 100).lines);
  EXPECT_NE(Generate("finance", 7, 100).lines, Generate("finance", 8, 100).lines);
  EXPECT_EQ(Generate("cars", 7, 100).lines, Generate("cars", 7, 100).lines);
}

TEST(GeneratorTest, UnknownKind) {
  auto g = MakeGenerator("weather", 1);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), ::testing::HasSubstr("unknown generator 'weather'"));
}

// Expected share of each value in `counts`, within 5 standard deviations.
void ExpectUniform(const std::map<std::string, int>& counts, const std::vector<std::string>& domain,
                   int n, const std::string& what) {
  EXPECT_EQ(counts.size(), domain.size()) << what;
  double p = 1.0 / domain.size();
  double sd = std::sqrt(n * p * (1 - p));
  for (const auto& v : domain) {
    auto it = counts.find(v);
    int c = it == counts.end() ? 0 : it->second;
    EXPECT_NEAR(c, n * p, 5 * sd) << what << " = " << v;
  }
}

TEST(GeneratorTest, HundredThousandFinanceEventsValidateWithSeedDistributions) {
  constexpr int kN = 100'000;
  auto schema = core::BuiltinSchema("finance");
  ASSERT_TRUE(schema.ok());
  codec::JsonValidator v(&*schema);
  Generated g = Generate("finance", 42, kN);
  std::map<std::string, std::map<std::string, int>> counts;
  std::set<std::string> ids;
  std::regex id_re("T[0-9A-F]{16}"), account_re("A[1-9][0-9]{5}"), merchant_re("M[1-9][0-9]{3}");
  double amount_sum = 0;
  int64_t min_cents = INT64_MAX, max_cents = 0;
  const std::map<std::string, std::string> country_of = {{"New York", "USA"},
                                                         {"San Francisco", "USA"},
                                                         {"London", "UK"},
                                                         {"Tokyo", "Japan"},
                                                         {"Berlin", "Germany"}};
  core::Row row;
  codec::ValidationError err;
  auto f = [&](const char* name) -> const core::Value& {
    return row.values[schema->FieldIndex(name)];
  };
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(v.Validate(g.lines[i], &row, &err)) << g.lines[i] << "\n" << err.message;
    ASSERT_EQ(row.event_time_us, g.times[i]);
    std::string type(f("transaction_type").s);
    for (const char* dim : {"transaction_type", "currency", "branch", "customer_gender",
                            "transaction_channel", "transaction_status", "location_city"}) {
      ++counts[dim][std::string(f(dim).s)];
    }
    ids.emplace(f("transaction_id").s);
    ASSERT_TRUE(std::regex_match(std::string(f("transaction_id").s), id_re));
    ASSERT_TRUE(std::regex_match(std::string(f("account_id").s), account_re));
    // merchant_id only for payments and transfers, as the seed.
    if (type == "payment" || type == "transfer") {
      ASSERT_TRUE(std::regex_match(std::string(f("merchant_id").s), merchant_re)) << g.lines[i];
    } else {
      ASSERT_TRUE(f("merchant_id").is_null()) << g.lines[i];
    }
    ASSERT_EQ(f("location_country").s, country_of.at(std::string(f("location_city").s)));
    // amount: 100.00..5000.00 with two decimals; description repeats it as Python prints it.
    double amount = f("amount").f;
    int64_t cents = std::llround(amount * 100);
    ASSERT_DOUBLE_EQ(amount, cents / 100.0);
    min_cents = std::min(min_cents, cents);
    max_cents = std::max(max_cents, cents);
    amount_sum += amount;
    std::string cap = type;
    cap[0] = static_cast<char>(std::toupper(cap[0]));
    ASSERT_EQ(f("description").s,
              cap + " of " + PythonRepr(amount) + " " + std::string(f("currency").s));
    ASSERT_GE(f("customer_age").i, 18);
    ASSERT_LE(f("customer_age").i, 80);
    double balance = f("account_balance").f;
    ASSERT_GE(balance, 1000.0);
    ASSERT_LE(balance, 50000.0);
    ++counts["age"][std::to_string(f("customer_age").i)];
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kN));  // unique ids
  EXPECT_GE(min_cents, 10000);
  EXPECT_LE(max_cents, 500000);
  EXPECT_LT(min_cents, 10500);  // the whole range is used
  EXPECT_GT(max_cents, 499500);
  EXPECT_NEAR(amount_sum / kN, 2550.0, 20.0);  // uniform(100, 5000)
  ExpectUniform(counts["transaction_type"], {"deposit", "withdrawal", "transfer", "payment"}, kN,
                "transaction_type");
  ExpectUniform(counts["currency"], {"USD", "EUR", "JPY", "GBP"}, kN, "currency");
  ExpectUniform(counts["branch"],
                {"Main Street", "Second Avenue", "Third Boulevard", "Fourth Square"}, kN,
                "branch");
  ExpectUniform(counts["customer_gender"], {"Male", "Female", "Other"}, kN, "gender");
  ExpectUniform(counts["transaction_channel"], {"online", "ATM", "branch", "mobile"}, kN,
                "channel");
  ExpectUniform(counts["transaction_status"], {"completed", "pending", "failed"}, kN, "status");
  ExpectUniform(counts["location_city"], {"New York", "San Francisco", "London", "Tokyo", "Berlin"},
                kN, "city");
  EXPECT_EQ(counts["age"].size(), 63u);  // 18..80
}

TEST(GeneratorTest, SeedIdStyleDrawsSixDigitsAndRepeats) {
  Generated g = Generate("finance", 3, 20'000, IdStyle::kSeed);
  std::set<std::string> ids;
  std::regex re(R"(\{"transaction_id": "T[1-9][0-9]{5}", .*)");
  for (const auto& l : g.lines) {
    ASSERT_TRUE(std::regex_match(l, re)) << l;
    ids.insert(l.substr(20, 7));
  }
  // 20,000 draws from 900,000 values: ~220 repeats expected (birthday problem).
  EXPECT_LT(ids.size(), 20'000u);
  EXPECT_GT(ids.size(), 19'500u);
}

TEST(GeneratorTest, HundredThousandCarEventsValidateAndAreConsistent) {
  constexpr int kN = 100'000;
  auto schema = core::BuiltinSchema("cars");
  ASSERT_TRUE(schema.ok());
  codec::JsonValidator v(&*schema);
  Generated g = Generate("cars", 42, kN);
  core::Row row;
  codec::ValidationError err;
  auto f = [&](const char* name) -> const core::Value& {
    return row.values[schema->FieldIndex(name)];
  };
  const std::map<std::string, std::string> level_of = {
      {"completed", "INFO"}, {"pending", "INFO"}, {"failed", "ERROR"}, {"cancelled", "WARNING"}};
  const std::map<std::string, std::string> currency_of = {
      {"USA", "USD"}, {"UK", "GBP"}, {"Germany", "EUR"}, {"France", "EUR"}, {"Japan", "JPY"}};
  std::map<std::string, std::set<std::string>> models;
  std::map<std::string, std::map<std::string, int>> counts;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(v.Validate(g.lines[i], &row, &err)) << g.lines[i] << "\n" << err.message;
    ASSERT_EQ(row.event_time_us, g.times[i]);
    std::string status(f("status").s);
    ASSERT_EQ(f("log_level").s, level_of.at(status));
    ASSERT_EQ(f("currency").s, currency_of.at(std::string(f("country").s))) << g.lines[i];
    ASSERT_GE(f("year").i, 2012);
    ASSERT_LE(f("year").i, 2026);
    ASSERT_GT(f("price").f, 10000.0);
    models[std::string(f("brand").s)].emplace(f("model").s);
    ASSERT_THAT(std::string(f("message").s),
                ::testing::HasSubstr(std::to_string(f("year").i) + " " + std::string(f("brand").s) +
                                     " " + std::string(f("model").s)));
    for (const char* dim : {"brand", "payment_method", "status"}) {
      ++counts[dim][std::string(f(dim).s)];
    }
  }
  // Each brand has its own models, and none is shared.
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& [brand, m] : models) {
    EXPECT_GE(m.size(), 3u) << brand;
    total += m.size();
    all.insert(m.begin(), m.end());
  }
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(models.size(), 8u);
  ExpectUniform(counts["payment_method"], {"cash", "card", "loan", "lease"}, kN, "payment");
  ExpectUniform(counts["status"], {"completed", "pending", "failed", "cancelled"}, kN, "status");
}

}  // namespace
}  // namespace txpipe::sources::generator
