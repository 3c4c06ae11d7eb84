// Parse + validate speed: codec::JsonValidator::Validate over generated lines,
// against two ceilings on the very same lines, in the same run:
//   BM_Validate       the validator as txpipe runs it: its fast path reads these
//                     flat events straight off simdjson's structural index.
//   BM_ValidateGeneral the same with Options::fast_path = false: every event
//                     through simdjson on-demand (the path that explains errors).
//   BM_SimdjsonTyped  simdjson on-demand alone, every field read: unescaped key,
//                     and the value decoded by its JSON type (string unescaped,
//                     number parsed). What any validator producing typed values
//                     must at least do; the ratio Validate/Typed is the headline.
//   BM_SimdjsonRaw    simdjson on-demand alone, every field visited: raw key,
//                     raw value token, nothing decoded. Structure only.
// Neither ceiling knows the schema: they dispatch on the JSON type they find.
//
// Input: kLines lines from the generator (fixed seed, 1 ms apart) laid out one
// after the other in one buffer with SIMDJSON_PADDING bytes after the last, as
// a reader of an NDJSON file sees them. The ceilings parse in place; Validate
// takes a string_view and copies it into its own padded buffer (part of its cost).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/json_validator.h"
#include "core/row.h"
#include "core/schema.h"
#include "sources/generator/generator.h"

namespace txpipe {
namespace {

namespace ondemand = simdjson::ondemand;

constexpr uint64_t kSeed = 42;
constexpr int64_t kStartUs = 1795392000LL * 1000000;  // 2026-11-23T00:00:00Z
constexpr int64_t kStepUs = 1000;
constexpr size_t kLines = 100000;

struct Line {
  size_t offset;
  size_t size;  // without the '\n'
};

// kLines generated lines of one kind, in one padded buffer.
struct Corpus {
  std::unique_ptr<char[]> data;
  size_t capacity = 0;  // bytes of `data`: the lines + SIMDJSON_PADDING
  std::vector<Line> lines;
  size_t bytes = 0;  // sum of line sizes

  std::string_view line(size_t i) const { return {data.get() + lines[i].offset, lines[i].size}; }
  // Bytes readable from line i's start: enough for simdjson's padding.
  size_t readable(size_t i) const { return capacity - lines[i].offset; }
};

// Built once per kind, on first use (outside any timed region).
const Corpus* GetCorpus(std::string_view kind) {
  static std::map<std::string, Corpus, std::less<>> corpora;
  if (auto it = corpora.find(kind); it != corpora.end()) return &it->second;
  auto gen = sources::generator::MakeGenerator(kind, kSeed);
  if (!gen.ok()) return nullptr;
  sources::generator::Buffer buf;
  Corpus c;
  c.lines.reserve(kLines);
  for (size_t i = 0; i < kLines; ++i) {
    size_t start = buf.size();
    (*gen)->Append(kStartUs + static_cast<int64_t>(i) * kStepUs, &buf);
    size_t size = buf.size() - start - 1;  // drop the '\n'
    c.lines.push_back({start, size});
    c.bytes += size;
  }
  c.capacity = buf.size() + simdjson::SIMDJSON_PADDING;
  c.data.reset(new char[c.capacity]);
  std::memcpy(c.data.get(), buf.view().data(), buf.size());
  std::memset(c.data.get() + buf.size(), 0, simdjson::SIMDJSON_PADDING);
  return &corpora.emplace(std::string(kind), std::move(c)).first->second;
}

void RunValidate(benchmark::State& state, const char* kind, bool fast_path) {
  const Corpus* corpus = GetCorpus(kind);
  auto schema = core::BuiltinSchema(kind);
  if (corpus == nullptr || !schema.ok()) {
    state.SkipWithError("no generator or schema");
    return;
  }
  codec::JsonValidator::Options options;
  options.fast_path = fast_path;
  codec::JsonValidator validator(&*schema, options);
  core::Row row;
  codec::ValidationError error;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    std::string_view line = corpus->line(i);
    bool ok = validator.Validate(line, &row, &error);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(row.event_time_us);
    if (!ok) {
      state.SkipWithError(("rejected: " + error.message).c_str());
      break;
    }
    bytes += static_cast<int64_t>(line.size());
    if (++i == corpus->lines.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(bytes);
}

void BM_Validate(benchmark::State& state, const char* kind) { RunValidate(state, kind, true); }
void BM_ValidateGeneral(benchmark::State& state, const char* kind) {
  RunValidate(state, kind, false);
}

// Reads every field of one object. Returns false on a parse error.
template <bool kTyped>
bool ReadAllFields(ondemand::parser& parser, const char* p, size_t size, size_t readable,
                   uint64_t* sum) {
  ondemand::document doc;
  if (parser.iterate(p, size, readable).get(doc)) return false;
  ondemand::object object;
  if (doc.get_object().get(object)) return false;
  uint64_t fields = 0;
  for (auto item : object) {
    ondemand::field field;
    if (std::move(item).get(field)) return false;
    ++fields;
    if constexpr (kTyped) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return false;
      *sum += key.size();
      ondemand::value v = field.value();
      ondemand::json_type t;
      if (v.type().get(t)) return false;
      switch (t) {
        case ondemand::json_type::string: {
          std::string_view s;
          if (v.get_string().get(s)) return false;
          *sum += s.size();
          break;
        }
        case ondemand::json_type::number: {
          ondemand::number n;
          if (v.get_number().get(n)) return false;
          *sum += static_cast<uint64_t>(n.as_double());
          break;
        }
        case ondemand::json_type::boolean: {
          bool b;
          if (v.get_bool().get(b)) return false;
          *sum += b;
          break;
        }
        case ondemand::json_type::null: {
          bool is_null;
          if (v.is_null().get(is_null) || !is_null) return false;
          break;
        }
        default: {  // object, array: its first token; on-demand skips the rest
          *sum += v.raw_json_token().size();
          break;
        }
      }
    } else {
      *sum += static_cast<unsigned char>(field.key().raw()[0]);
      *sum += field.value().raw_json_token().size();
    }
  }
  *sum += fields;
  return true;
}

template <bool kTyped>
void BM_Simdjson(benchmark::State& state, const char* kind) {
  const Corpus* corpus = GetCorpus(kind);
  if (corpus == nullptr) {
    state.SkipWithError("no generator");
    return;
  }
  ondemand::parser parser;
  uint64_t sum = 0;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const Line& line = corpus->lines[i];
    if (!ReadAllFields<kTyped>(parser, corpus->data.get() + line.offset, line.size,
                               corpus->readable(i), &sum)) {
      state.SkipWithError("simdjson parse error");
      break;
    }
    benchmark::DoNotOptimize(sum);
    bytes += static_cast<int64_t>(line.size);
    if (++i == corpus->lines.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(bytes);
}

void BM_SimdjsonTyped(benchmark::State& state, const char* kind) { BM_Simdjson<true>(state, kind); }
void BM_SimdjsonRaw(benchmark::State& state, const char* kind) { BM_Simdjson<false>(state, kind); }

BENCHMARK_CAPTURE(BM_Validate, finance, "finance");
BENCHMARK_CAPTURE(BM_ValidateGeneral, finance, "finance");
BENCHMARK_CAPTURE(BM_SimdjsonTyped, finance, "finance");
BENCHMARK_CAPTURE(BM_SimdjsonRaw, finance, "finance");
BENCHMARK_CAPTURE(BM_Validate, cars, "cars");
BENCHMARK_CAPTURE(BM_ValidateGeneral, cars, "cars");
BENCHMARK_CAPTURE(BM_SimdjsonTyped, cars, "cars");
BENCHMARK_CAPTURE(BM_SimdjsonRaw, cars, "cars");

}  // namespace
}  // namespace txpipe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // On-demand runs stage 1 (indexing) and string unescaping on the kernel
  // chosen at run time, and the rest of stage 2 (iteration, numbers) inline,
  // compiled for the kernel this file's compiler flags allow: both are shown.
  // (BM_Validate's fast path uses stage 1 only; see codec/json_validator.cc.)
  benchmark::AddCustomContext(
      "simdjson", fmt::format("{}.{}.{} stage1={} stage2={}", simdjson::SIMDJSON_VERSION_MAJOR,
                              simdjson::SIMDJSON_VERSION_MINOR, simdjson::SIMDJSON_VERSION_REVISION,
                              simdjson::get_active_implementation()->name(),
                              SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION)));
  for (const char* kind : {"finance", "cars"}) {
    const txpipe::Corpus* c = txpipe::GetCorpus(kind);
    if (c == nullptr) continue;
    benchmark::AddCustomContext(std::string("corpus_") + kind,
                                std::to_string(c->lines.size()) + " lines, " +
                                    std::to_string(c->bytes / c->lines.size()) + " bytes/line");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
