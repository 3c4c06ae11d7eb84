// Test helpers: seed-shaped finance events with chosen fields, and a brute-
// force model of the processor's windows to compare against.
#pragma once

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/time.h"

namespace txpipe::processors::analytics::testing {

inline const std::vector<std::string> kTypes = {"deposit", "withdrawal", "transfer", "payment"};
inline const std::vector<std::string> kCurrencies = {"USD", "EUR", "JPY", "GBP"};
inline const std::vector<std::string> kBranches = {"Main Street", "Second Avenue", "Third Boulevard",
                                                   "Fourth Square"};
inline const std::vector<std::string> kGenders = {"Male", "Female", "Other"};
inline const std::vector<std::string> kChannels = {"online", "ATM", "branch", "mobile"};
inline const std::vector<std::string> kStatuses = {"completed", "pending", "failed"};
inline const std::vector<std::string> kCities = {"New York", "San Francisco", "London", "Tokyo", "Berlin"};
inline const std::vector<std::string> kCountries = {"USA", "UK", "Japan", "Germany"};

struct FinanceEvent {
  std::string id, account;
  int type = 0, currency = 0, branch = 0, gender = 0, channel = 0, status = 0, city = 0, country = 0;
  int64_t cents = 0;          // amount in cents
  int64_t balance_cents = 0;
  int age = 30;
  int64_t time_us = 0;

  std::string Json() const {
    std::string merchant = type >= 2 ? fmt::format("\"M{}\"", 1000 + cents % 9000) : "null";
    return fmt::format(
        "{{\"transaction_id\": \"{}\", \"account_id\": \"{}\", \"transaction_type\": \"{}\", "
        "\"amount\": {}.{:02d}, \"currency\": \"{}\", \"transaction_date\": \"{}\", "
        "\"description\": \"x\", \"branch\": \"{}\", \"customer_age\": {}, \"customer_gender\": "
        "\"{}\", \"account_balance\": {}.{:02d}, \"transaction_channel\": \"{}\", "
        "\"transaction_status\": \"{}\", \"merchant_id\": {}, \"location_city\": \"{}\", "
        "\"location_country\": \"{}\"}}",
        id, account, kTypes[type], cents / 100, static_cast<int>(cents % 100), kCurrencies[currency],
        base::FormatIsoTimestamp(time_us), kBranches[branch], age, kGenders[gender],
        balance_cents / 100, static_cast<int>(balance_cents % 100), kChannels[channel],
        kStatuses[status], merchant, kCities[city], kCountries[country]);
  }
};

inline FinanceEvent RandomFinance(std::mt19937_64& rng, int64_t time_us, uint64_t serial) {
  FinanceEvent e;
  e.id = fmt::format("T{:08x}", serial);
  e.account = fmt::format("A{}", 100000 + rng() % 300);
  e.type = static_cast<int>(rng() % 4);
  e.currency = static_cast<int>(rng() % 4);
  e.branch = static_cast<int>(rng() % 4);
  e.gender = static_cast<int>(rng() % 3);
  e.channel = static_cast<int>(rng() % 4);
  e.status = static_cast<int>(rng() % 3);
  e.city = static_cast<int>(rng() % 5);
  e.country = static_cast<int>(rng() % 4);
  e.cents = 10000 + static_cast<int64_t>(rng() % 490001);
  e.balance_cents = 100000 + static_cast<int64_t>(rng() % 4900001);
  e.age = 18 + static_cast<int>(rng() % 63);
  e.time_us = time_us;
  return e;
}

// Expected aggregates of one (window, dimension, value).
struct Expected {
  int64_t count = 0;
  std::map<std::string, long double> sum;     // by measure name
  std::map<std::string, long double> min, max;
  int64_t failed = 0;
};

inline const std::map<std::string, double> kRates = {
    {"USD", 1.0}, {"EUR", 1.08}, {"GBP", 1.27}, {"JPY", 0.0067}};

inline std::string AgeBand(int age) {
  static const int kEdges[] = {18, 26, 36, 46, 56, 66};
  if (age < 18) return "<18";
  for (int i = 5; i >= 0; --i) {
    if (age >= kEdges[i]) return i == 5 ? "66+" : fmt::format("{}-{}", kEdges[i], kEdges[i + 1] - 1);
  }
  return "?";
}

// Adds `e` to every (dimension, value) of its window in `out`.
inline void AddExpected(const FinanceEvent& e, const std::string& window_prefix,
                        std::map<std::string, Expected>* out) {
  std::vector<std::pair<std::string, std::string>> dims = {
      {"transaction_type", kTypes[e.type]},       {"currency", kCurrencies[e.currency]},
      {"branch", kBranches[e.branch]},            {"customer_gender", kGenders[e.gender]},
      {"transaction_channel", kChannels[e.channel]}, {"transaction_status", kStatuses[e.status]},
      {"location_city", kCities[e.city]},         {"location_country", kCountries[e.country]},
      {"customer_age_band", AgeBand(e.age)},      {"total", "all"}};
  long double amount = e.cents / 100.0L, balance = e.balance_cents / 100.0L;
  long double rate = kRates.at(kCurrencies[e.currency]);
  std::map<std::string, long double> m = {{"amount", amount},
                                          {"account_balance", balance},
                                          {"customer_age", e.age},
                                          {"amount_usd", amount * rate},
                                          {"account_balance_usd", balance * rate}};
  for (const auto& [d, v] : dims) {
    Expected& x = (*out)[window_prefix + "|" + d + "|" + v];
    ++x.count;
    x.failed += e.status == 2;
    for (const auto& [name, val] : m) {
      x.sum[name] += val;
      if (!x.min.count(name) || val < x.min[name]) x.min[name] = val;
      if (!x.max.count(name) || val > x.max[name]) x.max[name] = val;
    }
  }
}

}  // namespace txpipe::processors::analytics::testing
