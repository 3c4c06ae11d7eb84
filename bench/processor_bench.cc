// The analytics processor alone, on a pre-loaded topic (issue 4's
// "processor at least 1,500,000 finance events/s per worker"), its two halves
// apart, and the seed's way measured in the same run for the ratio.
//
//   BM_Processor/workers:N/zstd:Z
//                           AnalyticsProcessor from Open to caught up: N worker
//                           threads poll + decompress + parse + validate, one
//                           engine thread dedups, windows (10s, 1m, every
//                           dimension + age bands + total), writes the window
//                           topic and checkpoints every second. Items = events.
//                           zstd:1 reads the topic stored as zstd batches (the
//                           default), zstd:0 the same events stored uncompressed.
//   BM_Parse                EventParser::Add alone (what one worker does per event).
//   BM_Engine               Engine::Apply alone on pre-parsed batches.
//   BM_SeedBaseline         the seed's Spark job shape: per event, parse it and
//                           write one point synchronously (here: one SQLite
//                           INSERT committed with fsync, as influxd's one write
//                           per HTTP request is). Items = events.
//
// Input: the finance generator (fixed seed), kEvents events 1 µs apart in
// event time (a 1 M events/s stream), keyed by account_id into a topic of 2
// partitions of the embedded log, zstd batches, in a temp dir.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "brokers/embedded/embedded_broker.h"
#include "processors/analytics/engine.h"
#include "processors/analytics/parser.h"
#include "processors/analytics/processor.h"
#include "sources/generator/generator.h"

namespace txpipe {
namespace {

namespace fs = std::filesystem;
namespace pa = processors::analytics;

constexpr int64_t kStartUs = 1795392000LL * 1000000;  // 2026-11-23T00:00:00Z
constexpr size_t kEvents = 1'000'000;

std::vector<std::string> MakeLines(size_t n) {
  auto gen = sources::generator::MakeGenerator("finance", 42);
  sources::generator::Buffer buf;
  std::vector<std::string> lines;
  lines.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    buf.Clear();
    (*gen)->Append(kStartUs + static_cast<int64_t>(i), &buf);
    lines.emplace_back(buf.view().substr(0, buf.size() - 1));
  }
  return lines;
}

std::string_view AccountOf(std::string_view line) {
  size_t at = line.find("\"account_id\": \"");
  if (at == std::string_view::npos) return {};
  at += 15;
  return line.substr(at, line.find('"', at) - at);
}

std::shared_ptr<const pa::Plan> MakePlan(const std::string& name, int workers,
                                         const std::string& topic = "finance") {
  pa::AnalyticsOptions o;
  o.topic = topic;
  o.schema = "finance";
  o.workers = workers;
  o.windows_topic = name + ".windows";
  o.dlq_topic = name + ".dlq";
  o.alerts_topic = name + ".alerts";
  return *pa::CompilePlan(name, o);
}

// One broker with the pre-loaded topics, shared by the runs: "finance" in
// zstd batches, "finance_raw" uncompressed, the same events.
struct Loaded {
  std::string dir;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker;
  uint64_t end[2] = {0, 0};

  Loaded() {
    dir = (fs::temp_directory_path() / fmt::format("txpipe_processor_bench_{}", getpid())).string();
    fs::remove_all(dir);
    fs::create_directories(dir + "/data");
    broker = std::move(brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir + "/log",
                                                                log::LogOptions{})
                           .value());
    (void)broker->CreateTopic("finance", 2);
    (void)broker->CreateTopic("finance_raw", 2);
    auto p = std::move(broker->NewProducer("finance", runtime::ProducerOptions{}).value());
    runtime::ProducerOptions raw_options;
    raw_options.compression = runtime::Compression::kNone;
    auto raw = std::move(broker->NewProducer("finance_raw", raw_options).value());
    auto gen = sources::generator::MakeGenerator("finance", 42);
    sources::generator::Buffer buf;
    for (size_t i = 0; i < kEvents; ++i) {
      buf.Clear();
      (*gen)->Append(kStartUs + static_cast<int64_t>(i), &buf);
      std::string_view line = buf.view().substr(0, buf.size() - 1);
      core::EventView ev;
      ev.timestamp_ms = kStartUs / 1000;
      ev.key = AccountOf(line);
      ev.body = line;
      (void)p->Add(ev);
      (void)raw->Add(ev);
    }
    (void)p->Flush();
    (void)raw->Flush();
    auto info = broker->Describe("finance");
    for (int i = 0; i < 2; ++i) end[i] = info->partitions[i].end_offset;
  }
  ~Loaded() {
    broker.reset();
    fs::remove_all(dir);
  }
};

Loaded& GetLoaded() {
  static Loaded* l = new Loaded();
  return *l;
}

void BM_Processor(benchmark::State& state) {
  Loaded& l = GetLoaded();
  const int workers = static_cast<int>(state.range(0));
  const std::string topic = state.range(1) ? "finance" : "finance_raw";
  int run = 0;
  for (auto _ : state) {
    std::string name = fmt::format("bench{}_{}_{}", workers, state.range(1), run++);
    runtime::Context ctx;
    ctx.broker = l.broker.get();
    ctx.data_dir = l.dir + "/data";
    ctx.name = name;
    pa::AnalyticsProcessor p(MakePlan(name, workers, topic), ctx);
    if (!p.Open().ok()) {
      state.SkipWithError("open failed");
      break;
    }
    while (true) {
      if (!p.Step(100).ok()) {
        state.SkipWithError("step failed");
        break;
      }
      auto o = p.applied_offsets();
      if (o[0] == l.end[0] && o[1] == l.end[1]) break;
    }
    (void)p.Close();
    state.PauseTiming();
    fs::remove_all(ctx.data_dir + "/processors/" + name);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kEvents));
}
BENCHMARK(BM_Processor)->ArgNames({"workers", "zstd"})->ArgsProduct({{1, 2}, {1, 0}})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

const std::vector<std::string>& Lines() {
  static const auto* lines = new std::vector<std::string>(MakeLines(200'000));
  return *lines;
}

void BM_Parse(benchmark::State& state) {
  auto plan = MakePlan("parse", 1);
  pa::EventParser parser(plan);
  pa::ParsedBatch batch;
  const auto& lines = Lines();
  size_t i = 0;
  for (auto _ : state) {
    if (batch.events.size() >= 8192) batch.Clear();
    core::EventView ev;
    ev.body = lines[i];
    parser.Add(0, i, ev, &batch);
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Parse);

struct NullOutput : pa::Output {
  void Window(std::string_view, std::string_view) override {}
  void Alert(std::string_view, std::string_view) override {}
};

void BM_Engine(benchmark::State& state) {
  auto plan = MakePlan("engine", 1);
  pa::EventParser parser(plan);
  const auto& lines = Lines();
  std::vector<pa::ParsedBatch> batches(lines.size() / 8192 + 1);
  for (size_t i = 0; i < lines.size(); ++i) {
    core::EventView ev;
    ev.body = lines[i];
    parser.Add(0, i, ev, &batches[i / 8192]);
  }
  NullOutput out;
  size_t events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<pa::Engine>(plan, &out, 0);
    state.ResumeTiming();
    for (const auto& b : batches) engine->Apply(b, 0);
    events += lines.size();
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(events));
}
BENCHMARK(BM_Engine)->Unit(benchmark::kMillisecond);

// The seed's shape: one synchronous durable write per event.
void BM_SeedBaseline(benchmark::State& state) {
  std::string path = (fs::temp_directory_path() / fmt::format("txpipe_seed_{}.db", getpid())).string();
  fs::remove(path);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA synchronous=FULL; CREATE TABLE points(t TEXT, type TEXT, amount REAL)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO points VALUES(?,?,?)", -1, &ins, nullptr);
  simdjson::dom::parser json;
  const auto& lines = Lines();
  size_t i = 0;
  for (auto _ : state) {
    simdjson::dom::element doc = json.parse(lines[i]);
    std::string_view t = doc["transaction_date"], type = doc["transaction_type"];
    double amount = doc["amount"];
    sqlite3_bind_text(ins, 1, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 2, type.data(), static_cast<int>(type.size()), SQLITE_TRANSIENT);
    sqlite3_bind_double(ins, 3, amount);
    sqlite3_step(ins);
    sqlite3_reset(ins);
    if (++i == lines.size()) i = 0;
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  fs::remove(path);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SeedBaseline)->MinTime(2.0)->UseRealTime();

}  // namespace
}  // namespace txpipe

BENCHMARK_MAIN();
