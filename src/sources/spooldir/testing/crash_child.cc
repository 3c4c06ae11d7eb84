// Test helper for kill_test: runs a spooldir source on <dir>/spool into an
// embedded broker in <dir>/broker (topic "finance", 2 partitions), printing
// "start" once recovered and "batch" after every acknowledged batch, and
// "idle" (then exits 0) once no file is left to read.
//   spooldir_crash_child DIR BATCH_SIZE CHECKPOINT_INTERVAL_MS CONSUME_ORDER
#include <cstdio>
#include <cstdlib>
#include <string>

#include "brokers/embedded/embedded_broker.h"
#include "sources/spooldir/spooldir.h"

using namespace txpipe;

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  std::string dir = argv[1];
  auto broker = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir + "/broker",
                                                        log::LogOptions{});
  if (!broker.ok()) {
    std::fprintf(stderr, "open: %s\n", broker.status().ToString().c_str());
    return 1;
  }
  if (!(*broker)->CreateTopic("finance", 2).ok()) return 1;
  runtime::Metrics metrics;
  runtime::Context ctx;
  ctx.broker = broker->get();
  ctx.metrics = &metrics;
  ctx.data_dir = dir;
  ctx.name = "kill";
  sources::spooldir::SpoolDirOptions o;
  o.spool_dir = "spool";
  o.topic = "finance";
  o.key_field = "account_id";
  o.min_file_age_ms = 0;
  o.max_line_length = 512;
  o.long_line_policy = "dead_letter";
  o.batch_size = std::atoi(argv[2]);
  o.checkpoint_interval_ms = std::atoll(argv[3]);
  o.consume_order = argv[4];
  sources::spooldir::SpoolDirSource src(o, ctx);
  src.SetBatchHookForTest([] {
    std::printf("batch\n");
    std::fflush(stdout);
  });
  base::StopFlag stop;
  base::Status s = src.Start(stop);
  if (!s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("start\n");
  std::fflush(stdout);
  for (;;) {
    auto r = src.PollOnce(stop);
    if (!r.ok()) {
      std::fprintf(stderr, "poll: %s\n", r.status().ToString().c_str());
      return 1;
    }
    if (*r == 0) break;
  }
  std::printf("idle\n");
  std::fflush(stdout);
  return 0;
}
