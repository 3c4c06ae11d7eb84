#include "processors/analytics/engine.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "processors/analytics/testing_util.h"
#include "sources/generator/generator.h"

namespace txpipe::processors::analytics {
namespace {

using testing::AddExpected;
using testing::Expected;
using testing::FinanceEvent;
using testing::RandomFinance;

constexpr int64_t kT0 = 1795010400LL * 1'000'000;  // 2026-11-17T14:00:00Z, a 1m boundary

struct CollectingOutput : Output {
  std::map<std::string, std::string> windows;  // key -> last body (what an upserting store keeps)
  std::map<std::string, int> emits;
  std::map<std::string, std::string> alerts;
  void Window(std::string_view key, std::string_view body) override {
    windows[std::string(key)] = std::string(body);
    ++emits[std::string(key)];
  }
  void Alert(std::string_view key, std::string_view body) override {
    alerts[std::string(key)] = std::string(body);
  }
};

std::shared_ptr<const Plan> MakePlan(const std::string& policy,
                                     std::vector<AlertOptions> alerts = {}) {
  AnalyticsOptions o;
  o.topic = "finance";
  o.schema = "finance";
  o.late_policy = policy;
  o.late_horizon_ms = 24 * 3'600'000LL;  // nothing is too late in these tests
  o.idle_timeout_ms = 3'600'000;         // and no partition goes idle until the end
  o.alerts = std::move(alerts);
  auto p = CompilePlan("finance", o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

// Per-partition sequences of event bodies.
using Partitions = std::vector<std::vector<std::string>>;

struct Scenario {
  Partitions parts;
  std::vector<std::vector<FinanceEvent>> events;  // same layout, parsed form
};

// Events ~20 ms apart with ±2 s jitter, `late_pct`% of them 5..180 s late,
// `dup_pct`% re-sends of a recent event of the same partition.
Scenario MakeScenario(uint64_t seed, int n, int partitions, int late_pct, int dup_pct) {
  std::mt19937_64 rng(seed);
  Scenario s;
  s.parts.resize(partitions);
  s.events.resize(partitions);
  for (int i = 0; i < n; ++i) {
    int64_t t = kT0 + i * 20'000 + static_cast<int64_t>(rng() % 4'000'000) - 2'000'000;
    if (static_cast<int>(rng() % 100) < late_pct) t -= 5'000'000 + static_cast<int64_t>(rng() % 175'000'000);
    FinanceEvent e = RandomFinance(rng, t, static_cast<uint64_t>(i));
    int p = static_cast<int>(std::stoi(e.account.substr(1)) % partitions);
    if (static_cast<int>(rng() % 100) < dup_pct && s.events[p].size() > 10) {
      e = s.events[p][s.events[p].size() - 1 - rng() % 10];  // a re-send, same id and fields
    }
    s.parts[p].push_back(e.Json());
    s.events[p].push_back(e);
  }
  return s;
}

// Feeds partitions [from[p], end) in random chunks, interleaved randomly.
void Feed(Engine* engine, const std::shared_ptr<const Plan>& plan, const Partitions& parts,
          std::vector<size_t> from, uint64_t seed, size_t stop_after_chunks = SIZE_MAX) {
  std::mt19937_64 rng(seed);
  EventParser parser(plan);
  ParsedBatch batch;
  size_t chunks = 0;
  while (chunks < stop_after_chunks) {
    std::vector<int> open;
    for (size_t p = 0; p < parts.size(); ++p) {
      if (from[p] < parts[p].size()) open.push_back(static_cast<int>(p));
    }
    if (open.empty()) break;
    batch.Clear();
    int p = open[rng() % open.size()];
    size_t n = 1 + rng() % 200;
    for (size_t k = 0; k < n && from[p] < parts[p].size(); ++k, ++from[p]) {
      core::EventView ev;
      ev.body = parts[p][from[p]];
      parser.Add(p, from[p], ev, &batch);
    }
    engine->Apply(batch, 0);
    ++chunks;
  }
}

// The brute-force recomputation: per partition in order, drop repeated ids,
// and per window size include an event unless it is late (its window ended
// at or before its partition's max event time - 5 s) and the policy drops.
std::map<std::string, Expected> BruteForce(const Scenario& s, bool update) {
  std::map<std::string, Expected> out;
  for (const auto& events : s.events) {
    int64_t max_t = INT64_MIN;
    std::set<std::string> seen;
    for (const FinanceEvent& e : events) {
      if (seen.insert(e.id).second) {
        for (auto [size, name] : {std::pair<int64_t, const char*>{10'000'000, "10s"}, {60'000'000, "1m"}}) {
          int64_t start = (e.time_us / size) * size;
          bool late = max_t != INT64_MIN && start + size <= max_t - 5'000'000;
          if (late && !update) continue;
          AddExpected(e, fmt::format("finance|{}|{}", name, start / 1000), &out);
        }
      }
      max_t = std::max(max_t, e.time_us);
    }
  }
  return out;
}

void ExpectMatches(const std::map<std::string, Expected>& want,
                   const std::map<std::string, std::string>& got) {
  ASSERT_EQ(want.size(), got.size());
  simdjson::dom::parser json;
  for (const auto& [key, x] : want) {
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << "missing window " << key;
    simdjson::dom::element doc = json.parse(it->second);
    EXPECT_EQ(int64_t(doc["count"]), x.count) << key;
    simdjson::dom::object fields = doc["fields"];
    for (const auto& [m, sum] : x.sum) {
      EXPECT_NEAR(double(fields[m + "_sum"]), static_cast<double>(sum), 1e-4 + 1e-12 * std::fabs(double(sum))) << key << " " << m;
      EXPECT_NEAR(double(fields[m + "_min"]), static_cast<double>(x.min.at(m)), 1e-6) << key << " " << m;
      EXPECT_NEAR(double(fields[m + "_max"]), static_cast<double>(x.max.at(m)), 1e-6) << key << " " << m;
      EXPECT_NEAR(double(fields[m + "_avg"]), static_cast<double>(sum / x.count), 1e-6) << key << " " << m;
    }
    EXPECT_DOUBLE_EQ(double(fields["failed_ratio"]), static_cast<double>(x.failed) / x.count) << key;
  }
}

class EngineBruteForceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineBruteForceTest, EqualsRecomputationWithShuffledAndLateEvents) {
  const bool update = GetParam() == "update";
  auto plan = MakePlan(GetParam());
  for (uint64_t seed : {1, 2, 3}) {
    Scenario s = MakeScenario(seed, 20000, 3, 8, 3);
    CollectingOutput a, b;
    Engine ea(plan, &a, 0), eb(plan, &b, 0);
    ea.AssignPartitions({0, 1, 2});
    eb.AssignPartitions({0, 1, 2});
    Feed(&ea, plan, s.parts, {0, 0, 0}, seed * 100);
    Feed(&eb, plan, s.parts, {0, 0, 0}, seed * 100 + 1);  // another interleaving
    ea.Tick(INT64_MAX / 4);
    eb.Tick(INT64_MAX / 4);
    EXPECT_GT(ea.stats().late_updated + ea.stats().late_dropped, 100u);
    EXPECT_GT(ea.stats().duplicates, 100u);
    // Results do not depend on how partitions interleave: byte for byte.
    EXPECT_EQ(a.windows, b.windows);
    ExpectMatches(BruteForce(s, update), a.windows);
    if (!update) {
      // Append mode: each window and value is emitted exactly once.
      for (const auto& [k, n] : a.emits) ASSERT_EQ(n, 1) << k;
    } else {
      size_t reemitted = 0;
      for (const auto& [k, n] : a.emits) reemitted += n > 1;
      EXPECT_GT(reemitted, 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, EngineBruteForceTest, ::testing::Values("update", "drop"));

TEST(EngineTest, DuplicateHeavyInputCountsEachIdOnce) {
  auto plan = MakePlan("update");
  Scenario s = MakeScenario(9, 20000, 2, 0, 60);
  std::set<std::string> ids;
  for (const auto& part : s.events) {
    for (const auto& e : part) ids.insert(e.id);
  }
  CollectingOutput out;
  Engine e(plan, &out, 0);
  e.AssignPartitions({0, 1});
  Feed(&e, plan, s.parts, {0, 0}, 5);
  e.Tick(INT64_MAX / 4);
  int64_t total = 0;
  simdjson::dom::parser json;
  for (const auto& [k, body] : out.windows) {
    if (k.find("|1m|") != std::string::npos && k.ends_with("|total|all")) {
      total += int64_t(json.parse(body)["count"]);
    }
  }
  EXPECT_EQ(total, static_cast<int64_t>(ids.size()));
  EXPECT_EQ(e.stats().duplicates, 20000 - ids.size());
}

// A crash between checkpoints: restore an earlier snapshot, re-read from its
// offsets (in another interleaving). What an upserting store holds at the end
// equals an uninterrupted run.
TEST(EngineTest, RestoreAndReplayEqualsUninterruptedRun) {
  for (std::string policy : {"update", "drop"}) {
    auto plan = MakePlan(policy);
    Scenario s = MakeScenario(11, 20000, 3, 8, 3);
    CollectingOutput clean;
    {
      Engine e(plan, &clean, 0);
      e.AssignPartitions({0, 1, 2});
      Feed(&e, plan, s.parts, {0, 0, 0}, 1);
      e.Tick(INT64_MAX / 4);
    }
    CollectingOutput store;
    std::string snapshot;
    std::map<int32_t, uint64_t> offsets;
    {
      Engine e(plan, &store, 0);
      e.AssignPartitions({0, 1, 2});
      Feed(&e, plan, s.parts, {0, 0, 0}, 2, 60);
      snapshot = e.Snapshot();
      offsets = e.next_offsets();
      // Runs on past the snapshot, then "crashes".
      std::vector<size_t> from = {offsets[0], offsets[1], offsets[2]};
      Feed(&e, plan, s.parts, from, 3, 40);
    }
    Engine r(plan, &store, 0);
    ASSERT_TRUE(r.Restore(snapshot).ok());
    EXPECT_EQ(r.next_offsets(), offsets);
    std::vector<size_t> from = {offsets[0], offsets[1], offsets[2]};
    Feed(&r, plan, s.parts, from, 4);
    r.Tick(INT64_MAX / 4);
    EXPECT_EQ(store.windows, clean.windows) << policy;
  }
}

TEST(EngineTest, RestoreRejectsCorruptionAndOtherPlans) {
  auto plan = MakePlan("update");
  CollectingOutput out;
  Engine e(plan, &out, 0);
  Scenario s = MakeScenario(3, 2000, 1, 0, 0);
  Feed(&e, plan, s.parts, {0}, 1);
  std::string snap = e.Snapshot();
  Engine r(plan, &out, 0);
  std::string bad = snap;
  bad[bad.size() / 2] ^= 1;
  EXPECT_EQ(r.Restore(bad).code(), base::Code::kCorruption);
  EXPECT_EQ(r.Restore(snap.substr(0, 10)).code(), base::Code::kCorruption);
  AnalyticsOptions o;
  o.topic = "finance";
  o.schema = "finance";
  o.windows = {"30s"};
  auto other = CompilePlan("finance", o);
  ASSERT_TRUE(other.ok());
  Engine x(*other, &out, 0);
  base::Status st = x.Restore(snap);
  EXPECT_EQ(st.code(), base::Code::kInvalidArgument);
  EXPECT_TRUE(r.Restore(snap).ok());
}

TEST(EngineTest, QuietStreamClosesItsLastWindowByIdleness) {
  AnalyticsOptions o;
  o.topic = "finance";
  o.schema = "finance";
  o.idle_timeout_ms = 5000;
  auto plan = *CompilePlan("finance", o);
  CollectingOutput out;
  const int64_t now0 = 1'000'000'000;  // processing time (monotonic µs)
  Engine e(plan, &out, now0);
  e.AssignPartitions({0, 1});  // partition 1 never gets data
  std::mt19937_64 rng(1);
  EventParser parser(plan);
  ParsedBatch b;
  for (int i = 0; i < 5; ++i) {
    core::EventView ev;
    std::string body = RandomFinance(rng, kT0 + i * 1'000'000, i).Json();
    ev.body = body;
    parser.Add(0, i, ev, &b);
  }
  e.Apply(b, now0);
  e.Tick(now0 + 4'000'000);
  EXPECT_TRUE(out.windows.empty());  // partition 1 holds the watermark back, not yet idle
  // All partitions idle for 5 s: the watermark moves on with the clock from the
  // last event (t0+4s): the 10s window [t0, t0+10s) needs max - 5s + idle >= t0+10s.
  e.Tick(now0 + 10'000'000);
  EXPECT_TRUE(out.windows.empty());
  e.Tick(now0 + 11'000'001);
  EXPECT_EQ(out.windows.count(fmt::format("finance|10s|{}|total|all", kT0 / 1000)), 1u);
  EXPECT_EQ(out.windows.count(fmt::format("finance|1m|{}|total|all", kT0 / 1000)), 0u);
  // The 1m window [t0, t0+60s) closes once t0+4s - 5s + idle >= t0+60s: 61 s of quiet.
  e.Tick(now0 + 60'000'000);
  EXPECT_EQ(out.windows.count(fmt::format("finance|1m|{}|total|all", kT0 / 1000)), 0u);
  e.Tick(now0 + 61'000'001);
  EXPECT_EQ(out.windows.count(fmt::format("finance|1m|{}|total|all", kT0 / 1000)), 1u);
}

TEST(EngineTest, AlertsFireOnCraftedInputAndNotOnCleanInput) {
  std::vector<AlertOptions> rules = {
      {"big_online", "amount > 4900 and transaction_channel == \"online\"", "warning"},
      {"failing", "failed_ratio > 0.4 and count >= 10 over 1m", "critical"},
      {"failing_branch", "failed_ratio > 0.9 over 10s by branch", "info"},
      {"velocity", "count by account_id > 5 per 1m", "critical"},
  };
  auto plan = MakePlan("update", rules);
  // Clean input: amounts <= 4900, ~1/3 failed spread, each account <= 5 per minute.
  auto run = [&](const std::vector<FinanceEvent>& events) {
    CollectingOutput out;
    Engine e(plan, &out, 0);
    e.AssignPartitions({0});
    EventParser parser(plan);
    ParsedBatch b;
    for (size_t i = 0; i < events.size(); ++i) {
      std::string body = events[i].Json();
      core::EventView ev;
      ev.body = body;
      parser.Add(0, i, ev, &b);
    }
    e.Apply(b, 0);
    e.Tick(INT64_MAX / 4);
    return out.alerts;
  };
  std::mt19937_64 rng(4);
  std::vector<FinanceEvent> clean;
  for (int i = 0; i < 600; ++i) {
    FinanceEvent ev = RandomFinance(rng, kT0 + i * 200'000, i);  // 2 minutes
    ev.account = fmt::format("A{}", 100000 + i);  // distinct accounts
    ev.cents = std::min<int64_t>(ev.cents, 490000);
    ev.status = i % 3 == 0 ? 2 : 0;  // one third failed
    clean.push_back(ev);
  }
  EXPECT_TRUE(run(clean).empty());

  std::vector<FinanceEvent> crafted = clean;
  crafted[10].cents = 495050;  // 4950.50 online
  crafted[10].channel = 0;
  crafted[11].cents = 495050;  // not online: no alert
  crafted[11].channel = 1;
  for (int i = 0; i < 7; ++i) crafted[100 + i].account = "A999999";  // 7 in one minute
  for (int i = 300; i < 600; ++i) crafted[i].status = 2;  // minute 2 mostly failed
  auto alerts = run(crafted);
  std::string id_big = fmt::format("big_online|{}", crafted[10].id);
  ASSERT_EQ(alerts.count(id_big), 1u);
  EXPECT_NE(alerts[id_big].find("\"values\":{\"amount\":4950.5,\"transaction_channel\":\"online\"}"),
            std::string::npos)
      << alerts[id_big];
  EXPECT_EQ(alerts.count(fmt::format("big_online|{}", crafted[11].id)), 0u);
  std::string id_vel = fmt::format("velocity|{}|A999999", kT0 / 1000);
  ASSERT_EQ(alerts.count(id_vel), 1u);
  EXPECT_NE(alerts[id_vel].find("\"count\":6"), std::string::npos) << alerts[id_vel];
  std::string id_fail = fmt::format("failing|1m|{}|total|all", kT0 / 1000 + 60'000);
  ASSERT_EQ(alerts.count(id_fail), 1u) << [&] {
    std::string all;
    for (auto& [k, v] : alerts) all += k + "\n";
    return all;
  }();
  EXPECT_NE(alerts[id_fail].find("\"kind\":\"threshold\""), std::string::npos);
  EXPECT_EQ(alerts.count(fmt::format("failing|1m|{}|total|all", kT0 / 1000)), 0u);
  size_t by_branch = 0;
  for (const auto& [k, v] : alerts) by_branch += k.starts_with("failing_branch|10s|");
  EXPECT_GT(by_branch, 0u);
}

// Sums past int64 µ-units (9.2e12 units) stay exact: they spill into 128 bits.
TEST(EngineTest, HugeSumsStayExact) {
  auto plan = MakePlan("update");
  EventParser parser(plan);
  ParsedBatch b;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 3; ++i) {
    FinanceEvent e = RandomFinance(rng, kT0 + i, i);
    e.cents = 800'000'000'000'001LL;  // 8e12 + 0.01
    e.currency = 0;                    // USD
    std::string body = e.Json();
    core::EventView ev;
    ev.body = body;
    parser.Add(0, i, ev, &b);
  }
  ASSERT_EQ(b.events.size(), 3u);
  CollectingOutput out;
  Engine e(plan, &out, 0);
  e.Apply(b, 0);
  std::string snap = e.Snapshot();
  e.Tick(INT64_MAX / 4);
  const std::string key = fmt::format("finance|10s|{}|total|all", kT0 / 1000);
  const std::string& body = out.windows.at(key);
  // 8000000000000.01 parses to the double 8000000000000.01024 (µ-units past
  // 2^53 carry the double's precision); three of them overflow int64 µ-units.
  EXPECT_NE(body.find("\"amount_sum\":24000000000000.03072,"), std::string::npos) << body;
  EXPECT_NE(body.find("\"amount_avg\":8000000000000.01024,"), std::string::npos) << body;
  // And through a checkpoint.
  CollectingOutput out2;
  Engine r(plan, &out2, 0);
  ASSERT_TRUE(r.Restore(snap).ok());
  r.Tick(INT64_MAX / 4);
  EXPECT_EQ(out2.windows.at(key), body);
}

// The cars stream: string dimensions (city, country) get slots as values
// come, the failed ratio comes from `status`, price gets a USD twin; counts
// and average prices per brand and city equal a direct count.
TEST(EngineTest, CarsByBrandAndCity) {
  AnalyticsOptions o;
  o.topic = "car-transactions-logs";
  o.schema = "cars";
  o.windows = {"1m"};
  auto plan = CompilePlan("cars", o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto gen = sources::generator::MakeGenerator("cars", 3);
  ASSERT_TRUE(gen.ok());
  sources::generator::Buffer buf;
  EventParser parser(*plan);
  ParsedBatch b;
  simdjson::dom::parser json;
  std::map<std::string, std::pair<int64_t, double>> want;  // "brand|X" / "city|Y" -> count, price sum
  for (int i = 0; i < 5000; ++i) {
    buf.Clear();
    (*gen)->Append(kT0 + i * 10'000, &buf);  // 50 s: one 1m window
    std::string line(buf.view().substr(0, buf.size() - 1));
    simdjson::dom::element doc = json.parse(line);
    double price = doc["price"];
    for (const char* f : {"brand", "city"}) {
      auto& w = want[std::string(f) + "|" + std::string(std::string_view(doc[f]))];
      ++w.first;
      w.second += price;
    }
    core::EventView ev;
    ev.body = line;
    parser.Add(0, i, ev, &b);
  }
  ASSERT_TRUE(b.rejected.empty()) << b.rejected[0].message;
  CollectingOutput out;
  Engine e(*plan, &out, 0);
  e.Apply(b, 0);
  e.Tick(INT64_MAX / 4);
  size_t checked = 0;
  for (const auto& [k, x] : want) {
    std::string dim = k.substr(0, k.find('|')), value = k.substr(k.find('|') + 1);
    std::string key = fmt::format("cars|1m|{}|{}|{}", kT0 / 1000, dim, value);
    ASSERT_EQ(out.windows.count(key), 1u) << key;
    simdjson::dom::element doc = json.parse(out.windows[key]);
    EXPECT_EQ(int64_t(doc["count"]), x.first) << key;
    EXPECT_NEAR(double(doc["fields"]["price_avg"]), x.second / x.first, 1e-6) << key;
    EXPECT_TRUE(doc["fields"]["price_usd_sum"].is_number()) << key;
    EXPECT_TRUE(doc["fields"]["failed_ratio"].is_number()) << key;
    ++checked;
  }
  EXPECT_GT(checked, 10u);
}

TEST(EngineTest, InvalidEventsAreRejectedWithReasonsAndCountNowhere) {
  auto plan = MakePlan("update");
  EventParser parser(plan);
  ParsedBatch b;
  std::mt19937_64 rng(1);
  std::vector<std::string> bodies = {
      "not json", "{\"transaction_id\": 1}", RandomFinance(rng, kT0, 1).Json(), "[1,2]"};
  std::string big = RandomFinance(rng, kT0, 2).Json();
  big.replace(big.find("\"amount\": ") + 10, 1, "9999999999999");  // beyond exact range
  bodies.push_back(big);
  for (size_t i = 0; i < bodies.size(); ++i) {
    core::EventView ev;
    ev.body = bodies[i];
    parser.Add(0, i, ev, &b);
  }
  ASSERT_EQ(b.rejected.size(), 4u);
  EXPECT_EQ(b.rejected[0].reason, codec::RejectReason::kNotJson);
  EXPECT_EQ(b.rejected[1].reason, codec::RejectReason::kWrongType);
  EXPECT_EQ(b.rejected[2].reason, codec::RejectReason::kNotObject);
  EXPECT_EQ(b.rejected[3].reason, codec::RejectReason::kOutOfRange);
  EXPECT_EQ(b.rejected[3].event.body, big);
  EXPECT_EQ(b.events.size(), 1u);
  ASSERT_EQ(b.next_offsets.size(), 1u);
  EXPECT_EQ(b.next_offsets[0], std::make_pair(0, static_cast<uint64_t>(bodies.size())));
  CollectingOutput out;
  Engine e(plan, &out, 0);
  e.Apply(b, 0);
  e.Tick(INT64_MAX / 4);
  simdjson::dom::parser json;
  EXPECT_EQ(int64_t(json.parse(out.windows.at(fmt::format("finance|10s|{}|total|all", kT0 / 1000)))["count"]), 1);
}

}  // namespace
}  // namespace txpipe::processors::analytics
