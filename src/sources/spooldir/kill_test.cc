// kill -9 a process running the spooldir source at random moments, many
// times; at the end the topic (plus its dead-letter topic) holds every input
// line exactly once, and every file is marked done.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "brokers/embedded/embedded_broker.h"

namespace txpipe::sources::spooldir {
namespace {

namespace fs = std::filesystem;

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child Start(const std::string& dir, int batch, int checkpoint_ms, const char* order) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::string b = std::to_string(batch), c = std::to_string(checkpoint_ms);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(TXPIPE_SPOOLDIR_CRASH_CHILD, TXPIPE_SPOOLDIR_CRASH_CHILD, dir.c_str(), b.c_str(),
          c.c_str(), order, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

TEST(SpoolDirKillTest, EveryLineExactlyOnceAcrossKillNine) {
  std::string dir = (fs::temp_directory_path() / ("txpipe_spool_kill_" + std::to_string(getpid())));
  fs::remove_all(dir);
  fs::create_directories(dir + "/spool");
  const char* seed = std::getenv("TXPIPE_KILL_SEED");  // to explore other schedules
  std::mt19937_64 rng(seed ? std::strtoull(seed, nullptr, 10) : 20261123);
  // Input: 40 files of 500 lines; some lines too long (dead-letter topic),
  // some empty (skipped).
  std::vector<std::string> want_main, want_dlq;
  for (int f = 0; f < 40; ++f) {
    std::string content;
    for (int i = 0; i < 500; ++i) {
      int n = f * 500 + i;
      if (n % 97 == 0) content += "\n";
      std::string line = "{\"account_id\": \"ACC" + std::to_string(n % 13) +
                         "\", \"seq\": " + std::to_string(n) + ", \"pad\": \"" +
                         std::string(n % 41 == 0 ? 600 : n % 200, 'x') + "\"}";
      (line.size() > 512 ? want_dlq : want_main).push_back(line);
      content += line + (n % 5 == 0 ? "\r\n" : "\n");
    }
    std::string tmp = dir + "/spool/.tmp";
    std::ofstream(tmp, std::ios::binary) << content;
    char name[64];
    std::snprintf(name, sizeof name, "/spool/finance_%03d.json", f);
    fs::rename(tmp, dir + name);
  }

  constexpr int kKills = 12;
  int kills = 0;
  bool finished = false;
  for (int run = 0; !finished; ++run) {
    bool last = kills >= kKills;
    int batch = 20 + static_cast<int>(rng() % 40);
    int checkpoint_ms = rng() % 2 ? 0 : 50;
    // Random order: a restart may leave a half-sent file for later and read
    // others first.
    const char* order = rng() % 2 ? "oldest" : "random";
    Child c = Start(dir, batch, checkpoint_ms, order);
    ASSERT_GT(c.pid, 0);
    // Kill after a random number of acknowledged batches (0: during recovery).
    int wait_batches = static_cast<int>(rng() % 15);
    char line[64];
    int seen = 0;
    bool started = false;
    while (std::fgets(line, sizeof line, c.out)) {
      std::string l(line);
      if (l == "start\n") started = true;
      if (l == "batch\n") ++seen;
      if (l == "idle\n") {
        finished = true;
        break;
      }
      if (!last && started && seen >= wait_batches) break;
    }
    if (!finished) {
      ASSERT_FALSE(last) << "child died without finishing";
      // Land the kill anywhere in the next batch (this randomizes the kill
      // point; it waits for no outcome).
      usleep(static_cast<useconds_t>(rng() % 4000));
      kill(c.pid, SIGKILL);
      ++kills;
    }
    while (std::fgets(line, sizeof line, c.out)) {
    }
    std::fclose(c.out);
    int status = 0;
    waitpid(c.pid, &status, 0);
    if (finished) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    } else {
      ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself: " << status;
    }
    ASSERT_LT(run, 200);
  }
  EXPECT_GE(kills, 10);

  auto broker = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir + "/broker",
                                                        log::LogOptions{});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  auto read = [&](const std::string& topic) {
    std::vector<std::string> bodies;
    auto c = (*broker)->NewConsumer("check", {topic}, {});
    EXPECT_TRUE(c.ok());
    auto info = (*broker)->Describe(topic);
    uint64_t total = 0;
    for (const auto& p : info->partitions) total += p.end_offset;
    while (bodies.size() < total) {
      auto n =
          (*c)->Poll(100, [&](const runtime::Message& m) { bodies.emplace_back(m.event.body); });
      if (!n.ok() || *n == 0) break;
    }
    std::sort(bodies.begin(), bodies.end());
    return bodies;
  };
  std::sort(want_main.begin(), want_main.end());
  std::sort(want_dlq.begin(), want_dlq.end());
  auto got_main = read("finance");
  auto got_dlq = read("finance.dlq");
  EXPECT_EQ(got_main.size(), want_main.size());
  EXPECT_TRUE(got_main == want_main) << "lines lost or duplicated";
  EXPECT_TRUE(got_dlq == want_dlq) << got_dlq.size() << " vs " << want_dlq.size();
  for (int f = 0; f < 40; ++f) {
    char name[64];
    std::snprintf(name, sizeof name, "/spool/finance_%03d.json.COMPLETED", f);
    EXPECT_TRUE(fs::exists(dir + name)) << name;
  }
  EXPECT_FALSE(fs::exists(dir + "/spool/quarantine"));
  broker->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace txpipe::sources::spooldir
