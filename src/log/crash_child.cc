// Test helper for kill_test: appends batches to topic "t" of the log in
// argv[1] forever, one batch per partition in turn. Record bodies name their
// own offset ("p<partition>-<offset>"), so the parent can check every record
// after a kill -9. After each acknowledged append it prints
// "ack <partition> <next offset>" and flushes.
#include <cstdio>
#include <string>
#include <vector>

#include "log/log.h"

using namespace txpipe;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto log = log::Log::Open(io::Env::Default(), argv[1], log::LogOptions{});
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    return 1;
  }
  auto topic = (*log)->CreateTopic("t", 2);
  if (!topic.ok()) return 1;
  log::BatchBuilder builders[2] = {log::BatchBuilder(log::Codec::kZstd),
                                   log::BatchBuilder(log::Codec::kNone)};
  std::vector<std::string> bodies;
  for (uint64_t round = 0;; ++round) {
    int p = static_cast<int>(round % 2);
    log::Partition* part = (*topic)->partition(p);
    uint64_t next = part->next_offset();
    int n = 1 + static_cast<int>(round * 7 % 40);
    log::BatchBuilder& b = builders[p];
    b.Reset();
    bodies.clear();
    for (int i = 0; i < n; ++i) {
      bodies.push_back("p" + std::to_string(p) + "-" + std::to_string(next + i) +
                       std::string(static_cast<size_t>(round % 300), '.'));
    }
    for (const auto& body : bodies) b.Add({static_cast<int64_t>(round), "", {}, body});
    auto batch = b.Finish();
    if (!batch.ok()) return 1;
    auto base = part->Append(*batch);
    if (!base.ok() || *base != next) {
      std::fprintf(stderr, "append: %s\n", base.ok() ? "offset moved" : base.status().ToString().c_str());
      return 1;
    }
    std::printf("ack %d %llu\n", p, static_cast<unsigned long long>(next + n));
    std::fflush(stdout);
  }
}
