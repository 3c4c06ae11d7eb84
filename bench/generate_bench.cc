// Event generation speed: EventGenerator::Append into a Buffer, one event per
// iteration, the buffer cleared every kEventsPerClear events (as the runner
// flushes its buffer). No I/O: `txpipe generate ... > /dev/null` (scripts/bench)
// measures the whole command.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>

#include "sources/generator/generator.h"

namespace txpipe::sources::generator {
namespace {

constexpr uint64_t kSeed = 42;
constexpr int64_t kStartUs = 1795392000LL * 1000000;  // 2026-11-23T00:00:00Z
constexpr int64_t kStepUs = 1000;                     // 1 ms apart, as at --rate max
constexpr int kEventsPerClear = 1000;

void RunGenerate(benchmark::State& state, std::string_view kind) {
  auto gen = MakeGenerator(kind, kSeed);
  if (!gen.ok()) {
    state.SkipWithError("MakeGenerator failed");
    return;
  }
  Buffer buf;
  int64_t t = kStartUs;
  int pending = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    (*gen)->Append(t, &buf);
    t += kStepUs;
    if (++pending == kEventsPerClear) {
      benchmark::DoNotOptimize(buf.view().data());
      benchmark::ClobberMemory();
      bytes += static_cast<int64_t>(buf.size());
      buf.Clear();
      pending = 0;
    }
  }
  bytes += static_cast<int64_t>(buf.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(bytes);
}

void BM_GenerateFinance(benchmark::State& state) { RunGenerate(state, "finance"); }
void BM_GenerateCars(benchmark::State& state) { RunGenerate(state, "cars"); }

BENCHMARK(BM_GenerateFinance);
BENCHMARK(BM_GenerateCars);

}  // namespace
}  // namespace txpipe::sources::generator
