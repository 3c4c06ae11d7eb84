#include "sources/generator/runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/time.h"

namespace txpipe::sources::generator {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

constexpr int64_t kT0 = 1795428513LL * 1'000'000;  // 2026-11-23T10:08:33Z

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("txpipe_runner_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    if (!fs::exists(dir_)) return names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::vector<std::string> Lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  RunOptions DirOptions() const {
    RunOptions o;
    o.out_dir = dir_;
    o.seed = 1;
    return o;
  }

  fs::path dir_;
  base::StopFlag stop_;
};

TEST_F(RunnerTest, MaxRateWithStartRollsOneFilePerEventSecond) {
  base::FakeClock clock(kT0);
  RunOptions o = DirOptions();
  o.rate = 0;
  o.start_us = kT0;
  o.count = 2500;  // 1 ms apart: 2.5 seconds of event time
  auto r = RunGenerator(o, &clock, stop_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events, 2500u);
  EXPECT_EQ(r->files, 3u);
  EXPECT_THAT(Files(), ElementsAre("finance_transactions_20261123_100833.json",
                                   "finance_transactions_20261123_100834.json",
                                   "finance_transactions_20261123_100835.json"));
  auto first = Lines(dir_ / "finance_transactions_20261123_100833.json");
  ASSERT_EQ(first.size(), 1000u);
  EXPECT_THAT(first[0], ::testing::HasSubstr("\"transaction_date\": \"2026-11-23T10:08:33Z\""));
  EXPECT_THAT(first[1],
              ::testing::HasSubstr("\"transaction_date\": \"2026-11-23T10:08:33.001000Z\""));
  EXPECT_EQ(Lines(dir_ / "finance_transactions_20261123_100835.json").size(), 500u);
}

TEST_F(RunnerTest, SameSeedAndStartGiveTheSameBytes) {
  auto run = [&](const std::string& sub) {
    base::FakeClock clock(kT0);
    RunOptions o = DirOptions();
    o.out_dir = dir_ / sub;
    o.rate = 0;
    o.start_us = kT0;
    o.count = 1500;
    o.kind = "cars";
    EXPECT_TRUE(RunGenerator(o, &clock, stop_).ok());
    std::ostringstream all;
    for (const auto& e : fs::directory_iterator(o.out_dir)) {
      EXPECT_THAT(e.path().filename().string(), ::testing::StartsWith("car_transactions_"));
    }
    for (const auto& name : {"car_transactions_20261123_100833.json",
                             "car_transactions_20261123_100834.json"}) {
      std::ifstream in(fs::path(o.out_dir) / name);
      all << in.rdbuf();
    }
    return all.str();
  };
  std::string a = run("a"), b = run("b");
  EXPECT_GT(a.size(), 1500u * 200);
  EXPECT_EQ(a, b);
}

TEST_F(RunnerTest, RealTimeRateStampsEventsWithTheClockAndPaces) {
  base::FakeClock clock(kT0 + 250'000);  // 10:08:33.25
  RunOptions o = DirOptions();
  o.rate = 2;  // one event every 500 ms
  o.count = 5;
  auto r = RunGenerator(o, &clock, stop_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // 5 events at rate 2 take 2 s of (fake) time: due at 0, .5, 1, 1.5, 2 s.
  EXPECT_EQ(clock.NowMicros(), kT0 + 250'000 + 2'000'000);
  // 33.25, 33.75 | 34.25, 34.75 | 35.25: three files, each closed before the sleep
  // that crosses into the next second.
  EXPECT_THAT(Files(), ElementsAre("finance_transactions_20261123_100833.json",
                                   "finance_transactions_20261123_100834.json",
                                   "finance_transactions_20261123_100835.json"));
  auto l = Lines(dir_ / "finance_transactions_20261123_100834.json");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_THAT(l[0], ::testing::HasSubstr("\"2026-11-23T10:08:34.250000Z\""));
  EXPECT_THAT(l[1], ::testing::HasSubstr("\"2026-11-23T10:08:34.750000Z\""));
}

TEST_F(RunnerTest, StopLeavesOnlyWholeFiles) {
  base::FakeClock clock(kT0);
  RunOptions o = DirOptions();
  o.rate = 1000;
  o.start_us = kT0;
  uint64_t stopped_at = 0;
  // Raise the stop from the progress callback, mid-file.
  auto r = RunGenerator(o, &clock, stop_, [&](const RunStats& s) {
    if (s.events >= 1700 && !stop_.requested()) {
      stopped_at = s.events;
      stop_.Request();
    }
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_GT(stopped_at, 0u);
  EXPECT_EQ(r->events, stopped_at);  // nothing generated after the stop
  size_t lines = 0;
  for (const auto& name : Files()) {
    EXPECT_THAT(name, ::testing::Not(::testing::EndsWith(".tmp")));
    auto l = Lines(dir_ / name);
    for (const auto& line : l) ASSERT_EQ(line.back(), '}');
    lines += l.size();
  }
  EXPECT_EQ(lines, r->events);
}

TEST_F(RunnerTest, StoppedBeforeStartWritesNothing) {
  base::FakeClock clock(kT0);
  stop_.Request();
  RunOptions o = DirOptions();
  auto r = RunGenerator(o, &clock, stop_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events, 0u);
  EXPECT_TRUE(Files().empty());
}

TEST_F(RunnerTest, NeverOverwritesAnExistingFileAndReplacesStaleTemp) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "finance_transactions_20261123_100833.json") << "mine\n";
  std::ofstream(dir_ / ".finance_transactions_20261123_100833.json.tmp") << "half a li";
  base::FakeClock clock(kT0);
  RunOptions o = DirOptions();
  o.rate = 0;
  o.start_us = kT0;
  o.count = 10;
  ASSERT_TRUE(RunGenerator(o, &clock, stop_).ok());
  EXPECT_THAT(Files(), ElementsAre("finance_transactions_20261123_100833.json",
                                   "finance_transactions_20261123_100833_1.json"));
  EXPECT_THAT(Lines(dir_ / "finance_transactions_20261123_100833.json"), ElementsAre("mine"));
  auto l = Lines(dir_ / "finance_transactions_20261123_100833_1.json");
  ASSERT_EQ(l.size(), 10u);
  EXPECT_EQ(l[0].front(), '{');
}

TEST_F(RunnerTest, StreamOutputEqualsTheGenerator) {
  fs::create_directories(dir_);
  fs::path out = dir_ / "out.ndjson";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  base::FakeClock clock(kT0);
  RunOptions o;
  o.out_fd = fd;
  o.rate = 0;
  o.start_us = kT0;
  o.count = 5000;
  o.seed = 9;
  auto r = RunGenerator(o, &clock, stop_);
  ::close(fd);
  ASSERT_TRUE(r.ok());
  auto gen = MakeGenerator("finance", 9);
  Buffer want;
  for (int i = 0; i < 5000; ++i) (*gen)->Append(kT0 + i * 1000, &want);
  std::ifstream in(out);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, want.view());
  EXPECT_EQ(r->bytes, got.size());
}

TEST_F(RunnerTest, RejectsBadOptions) {
  base::FakeClock clock(kT0);
  RunOptions o;  // neither folder nor stream
  EXPECT_FALSE(RunGenerator(o, &clock, stop_).ok());
  o = DirOptions();
  o.kind = "weather";
  auto r = RunGenerator(o, &clock, stop_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("weather"));
  o = DirOptions();
  o.out_dir = "/proc/no/such/dir";
  EXPECT_FALSE(RunGenerator(o, &clock, stop_).ok());
}

}  // namespace
}  // namespace txpipe::sources::generator
