// kill -9 a child process that appends to the log, at random moments, many
// times; after each kill the log must hold every acknowledged record, intact,
// at its offset, and nothing else malformed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "log/log.h"

namespace txpipe::log {
namespace {

namespace fs = std::filesystem;

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child Start(const std::string& dir) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(TXPIPE_CRASH_CHILD, TXPIPE_CRASH_CHILD, dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

TEST(KillTest, EveryAcknowledgedRecordSurvivesKillNine) {
  std::string dir = (fs::temp_directory_path() / ("txpipe_kill_" + std::to_string(getpid())));
  fs::remove_all(dir);
  std::mt19937_64 rng(20261123);
  uint64_t acked[2] = {0, 0};
  constexpr int kKills = 25;
  for (int kill_no = 0; kill_no < kKills; ++kill_no) {
    Child c = Start(dir);
    ASSERT_GT(c.pid, 0);
    // Let it acknowledge a random number of batches, then kill it wherever it is.
    int wait_acks = 1 + static_cast<int>(rng() % 60);
    char line[128];
    int seen = 0;
    while (seen < wait_acks && std::fgets(line, sizeof line, c.out)) {
      int p;
      unsigned long long next;
      ASSERT_EQ(std::sscanf(line, "ack %d %llu", &p, &next), 2) << line;
      acked[p] = next;
      ++seen;
    }
    ASSERT_EQ(seen, wait_acks) << "child died early";
    kill(c.pid, SIGKILL);
    // Acks printed before the kill landed are acknowledged too.
    while (std::fgets(line, sizeof line, c.out)) {
      int p;
      unsigned long long next;
      if (std::sscanf(line, "ack %d %llu", &p, &next) == 2) acked[p] = next;
    }
    std::fclose(c.out);
    int status = 0;
    waitpid(c.pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself: " << status;

    auto log = Log::Open(io::Env::Default(), dir, LogOptions{});
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    Topic* t = (*log)->FindTopic("t");
    ASSERT_NE(t, nullptr);
    for (int p = 0; p < 2; ++p) {
      Partition* part = t->partition(p);
      ASSERT_GE(part->next_offset(), acked[p]) << "kill " << kill_no << " lost acked records";
      std::string bytes;
      BatchDecoder dec;
      uint64_t expect = 0;
      while (expect < part->next_offset()) {
        ASSERT_TRUE(part->Read(expect, 1 << 20, &bytes).ok());
        ASSERT_FALSE(bytes.empty());
        std::string_view rest = bytes;
        while (!rest.empty()) {
          BatchHeader h;
          ASSERT_TRUE(DecodeHeader(rest, &h).ok());
          ASSERT_TRUE(VerifyCrc(h, rest).ok());
          std::vector<RecordView> recs;
          ASSERT_TRUE(dec.Decode(h, rest, &recs).ok());
          for (uint32_t i = 0; i < recs.size(); ++i, ++expect) {
            ASSERT_EQ(h.base_offset + i, expect);
            std::string want = "p" + std::to_string(p) + "-" + std::to_string(expect);
            ASSERT_EQ(recs[i].body.substr(0, want.size()), want);
          }
          rest.remove_prefix(h.total_size());
        }
      }
      acked[p] = part->next_offset();  // what survived is the new baseline
    }
  }
  EXPECT_GT(acked[0] + acked[1], 100u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace txpipe::log
