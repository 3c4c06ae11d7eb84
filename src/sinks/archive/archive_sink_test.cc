#include "sinks/archive/archive_sink.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "base/time.h"
#include "brokers/embedded/embedded_broker.h"
#include "io/testing/fault_env.h"
#include "sinks/archive/testing_util.h"

namespace txpipe::sinks::archive {
namespace {

namespace fs = std::filesystem;
using runtime::TopicPartition;

// 2026-11-23T10:00:00Z in ms.
const int64_t kBaseMs = base::DaysFromCivil(2026, 11, 23) * 86'400'000 + 10 * 3'600'000;

struct ArchivedFile {
  std::string rel_dir;  // relative to the archive root
  FileRange range;
  std::vector<std::string> lines;
};

struct Archive {
  std::vector<ArchivedFile> files;
  std::vector<std::string> in_use;  // paths
  std::vector<std::string> other;   // paths of files that are neither
  std::multiset<std::string> bodies;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Archive ReadArchive(const std::string& root, const FileNaming& naming) {
  Archive a;
  if (!fs::exists(root)) return a;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    FileRange r;
    if (ParseInUseFileName(naming, name, &r)) {
      a.in_use.push_back(e.path().string());
      continue;
    }
    if (!ParseFinalFileName(naming, name, &r)) {
      a.other.push_back(e.path().string());
      continue;
    }
    std::string data = ReadAll(e.path().string());
    std::string text;
    if (naming.suffix.ends_with(".gz")) {
      EXPECT_TRUE(test_util::Gunzip(data, &text)) << e.path();
    } else if (naming.suffix.ends_with(".zst")) {
      EXPECT_TRUE(test_util::Unzstd(data, &text)) << e.path();
    } else {
      text = data;
    }
    ArchivedFile f;
    f.rel_dir = fs::relative(e.path().parent_path(), root).string();
    f.range = r;
    EXPECT_TRUE(text.empty() || text.back() == '\n') << e.path();
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find('\n', i);
      if (j == std::string::npos) j = text.size();
      f.lines.push_back(text.substr(i, j - i));
      i = j + 1;
    }
    // Offsets in the embedded log have no gaps: one line per offset.
    EXPECT_EQ(f.lines.size(), r.last - r.first + 1) << e.path();
    for (const auto& l : f.lines) a.bodies.insert(l);
    a.files.push_back(std::move(f));
  }
  return a;
}

// Every partition's files cover [0, end) with no gap and no overlap.
void ExpectContiguous(const Archive& a, const std::map<TopicPartition, uint64_t>& ends) {
  std::map<TopicPartition, std::vector<FileRange>> by_tp;
  for (const auto& f : a.files) by_tp[{f.range.topic, f.range.partition}].push_back(f.range);
  for (const auto& [tp, end] : ends) {
    auto& v = by_tp[tp];
    std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.first < y.first; });
    uint64_t next = 0;
    for (const auto& r : v) {
      EXPECT_EQ(r.first, next) << tp.topic << "/" << tp.partition;
      next = r.last + 1;
    }
    EXPECT_EQ(next, end) << tp.topic << "/" << tp.partition;
  }
}

std::string Body(int i) { return fmt::format("{{\"n\":{},\"pad\":\"{:x>40}\"}}", i, i % 7); }

class ArchiveSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            fmt::format("txpipe_archive_{}_{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/data");
    OpenBroker();
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(dir_);
  }
  void OpenBroker() {
    broker_.reset();
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_ + "/log",
                                                     log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
  }
  runtime::Context Ctx(base::Clock* clock, io::Env* env = io::Env::Default()) {
    runtime::Context c;
    c.broker = broker_.get();
    c.metrics = &metrics_;
    c.clock = clock;
    c.env = env;
    c.data_dir = dir_ + "/data";
    c.name = "arch";
    return c;
  }
  static ArchiveOptions Opts() {
    ArchiveOptions o;
    o.topics = {"t"};
    o.path = "archive/%{topic}/%Y-%m-%d/%H%M";
    return o;
  }
  std::string Root() const { return dir_ + "/data/archive"; }
  static FileNaming Naming(const ArchiveOptions& o) {
    return {o.file_prefix, o.file_suffix + CodecExtension(o.codec), o.in_use_prefix,
            o.in_use_suffix};
  }
  // Produces events [from, from+n) keyed "k<i>"; `headers(i)` adds headers.
  void Produce(const std::string& topic, int from, int n,
               const std::function<std::vector<std::pair<std::string, std::string>>(int)>& headers =
                   nullptr) {
    auto p = broker_->NewProducer(topic, runtime::ProducerOptions{});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (int i = from; i < from + n; ++i) {
      std::vector<std::pair<std::string, std::string>> hs;
      if (headers) {
        hs = headers(i);
      } else {
        hs.push_back({"timestamp", std::to_string(kBaseMs)});
      }
      std::vector<core::HeaderView> hv;
      for (const auto& [k, v] : hs) hv.push_back({k, v});
      std::string key = "k" + std::to_string(i);
      std::string body = Body(i);
      ASSERT_TRUE((*p)->Add({kBaseMs, key, hv, body}).ok());
    }
    ASSERT_TRUE((*p)->Flush().ok());
  }
  std::map<TopicPartition, uint64_t> Ends(const std::string& topic) {
    std::map<TopicPartition, uint64_t> out;
    auto info = broker_->Describe(topic);
    EXPECT_TRUE(info.ok());
    for (const auto& p : info->partitions) out[{topic, p.partition}] = p.end_offset;
    return out;
  }
  // PollOnce(0) until nothing more arrives.
  static size_t Drain(ArchiveSink* sink) {
    size_t total = 0;
    for (;;) {
      auto r = sink->PollOnce(0);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || *r == 0) return total;
      total += *r;
    }
  }
  static void ExpectExactlyOnce(const Archive& a, int n) {
    EXPECT_EQ(a.bodies.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(a.bodies.count(Body(i)), 1u) << "event " << i;
  }
  uint64_t Committed(int partition) {
    auto all = broker_->GroupOffsets("archive-arch");
    auto it = all.find({"t", partition});
    return it == all.end() ? ~uint64_t{0} : it->second;
  }
  uint64_t Counter(const std::string& name) const {
    return metrics_.CounterValue(name, {{"sink", "arch"}});
  }

  std::string dir_;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker_;
  runtime::Metrics metrics_;
};

TEST_F(ArchiveSinkTest, RunArchivesEveryEventExactlyOnceInContiguousFiles) {
  ASSERT_TRUE(broker_->CreateTopic("t", 2).ok());
  // Six minutes of event time: the path buckets by minute.
  auto minute_headers = [](int i) {
    return std::vector<std::pair<std::string, std::string>>{
        {"timestamp", std::to_string(kBaseMs + (i / 1000) * 60'000 + i % 1000)}};
  };
  Produce("t", 0, 5000, minute_headers);
  ArchiveOptions o = Opts();
  o.roll_count = 700;
  ArchiveSink sink(o, Ctx(base::Clock::Real()));
  base::StopFlag stop;
  base::Status result;
  std::thread runner([&] { result = sink.Run(stop); });
  auto wait_for = [&](uint64_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Counter("txpipe_archive_events_total") < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(Counter("txpipe_archive_events_total"), n);
  };
  wait_for(5000);
  Produce("t", 5000, 1000, minute_headers);  // while it runs
  wait_for(6000);
  stop.Request();
  runner.join();
  ASSERT_TRUE(result.ok()) << result.ToString();

  Archive a = ReadArchive(Root(), Naming(o));
  EXPECT_TRUE(a.in_use.empty());
  EXPECT_TRUE(a.other.empty());
  ExpectExactlyOnce(a, 6000);
  ExpectContiguous(a, Ends("t"));
  EXPECT_GE(a.files.size(), 12u);  // 6 minutes x 2 partitions, more with roll_count
  for (const auto& f : a.files) {
    EXPECT_LE(f.lines.size(), 700u);
    // Every event is in its minute's bucket.
    for (const auto& line : f.lines) {
      int n = std::stoi(line.substr(5));
      EXPECT_EQ(f.rel_dir, fmt::format("t/2026-11-23/10{:02}", n / 1000)) << line;
    }
  }
  // Offsets are committed after the renames.
  auto committed = broker_->GroupOffsets("archive-arch");
  for (const auto& [tp, end] : Ends("t")) EXPECT_EQ(committed[tp], end);
  EXPECT_EQ(Counter("txpipe_archive_files_total"), a.files.size());
}

TEST_F(ArchiveSinkTest, RollsByCount) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  o.roll_count = 4;
  ArchiveSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  Produce("t", 0, 10);
  EXPECT_EQ(Drain(&sink), 10u);
  Archive a = ReadArchive(Root(), Naming(o));
  ASSERT_EQ(a.files.size(), 2u);
  EXPECT_EQ(a.in_use.size(), 1u);  // events 8 and 9
  EXPECT_THAT(a.in_use[0], ::testing::EndsWith("FlumeData.t+0+00000000000000000008.tmp"));
  ExpectContiguous(a, {{{"t", 0}, 8}});
  EXPECT_EQ(Committed(0), 8u);  // committed after rename
  ASSERT_TRUE(sink.Close().ok());
  a = ReadArchive(Root(), Naming(o));
  EXPECT_EQ(a.files.size(), 3u);
  EXPECT_TRUE(a.in_use.empty());
  ExpectExactlyOnce(a, 10);
  EXPECT_EQ(Committed(0), 10u);
}

TEST_F(ArchiveSinkTest, RollsBySize) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  const size_t line = Body(0).size() + 1;
  o.roll_size_bytes = 3 * line;  // every 3 events
  o.batch_size = 2;
  ArchiveSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  Produce("t", 0, 9);
  EXPECT_EQ(Drain(&sink), 9u);
  Archive a = ReadArchive(Root(), Naming(o));
  EXPECT_EQ(a.files.size(), 3u);
  EXPECT_TRUE(a.in_use.empty());
  for (const auto& f : a.files) EXPECT_EQ(f.lines.size(), 3u);
  ExpectExactlyOnce(a, 9);
  ExpectContiguous(a, Ends("t"));
  ASSERT_TRUE(sink.Close().ok());
}

TEST_F(ArchiveSinkTest, RollsOnIntervalWithoutNewEvents) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  o.roll_interval_ms = 30'000;
  o.idle_timeout_ms = 0;
  ArchiveSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  Produce("t", 0, 5);
  EXPECT_EQ(Drain(&sink), 5u);
  clock.Advance(29'999'000);
  EXPECT_EQ(*sink.PollOnce(0), 0u);
  Archive a = ReadArchive(Root(), Naming(o));
  EXPECT_TRUE(a.files.empty());  // an open file never looks complete
  ASSERT_EQ(a.in_use.size(), 1u);
  EXPECT_EQ(broker_->GroupOffsets("archive-arch").size(), 0u);
  clock.Advance(1'000);
  EXPECT_EQ(*sink.PollOnce(0), 0u);  // no event arrived; the timer rolls it
  a = ReadArchive(Root(), Naming(o));
  ASSERT_EQ(a.files.size(), 1u);
  EXPECT_TRUE(a.in_use.empty());
  EXPECT_EQ(a.files[0].range.first, 0u);
  EXPECT_EQ(a.files[0].range.last, 4u);
  EXPECT_EQ(Committed(0), 5u);
  // An event after the interval opens a new file whose timer starts then.
  Produce("t", 5, 1);
  clock.Advance(40'000'000);
  EXPECT_EQ(Drain(&sink), 1u);
  EXPECT_EQ(ReadArchive(Root(), Naming(o)).in_use.size(), 1u);
  clock.Advance(30'000'000);
  EXPECT_EQ(*sink.PollOnce(0), 0u);
  a = ReadArchive(Root(), Naming(o));
  EXPECT_EQ(a.files.size(), 2u);
  ExpectExactlyOnce(a, 6);
  ASSERT_TRUE(sink.Close().ok());
}

TEST_F(ArchiveSinkTest, RollsOnIdleTimeout) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  o.roll_interval_ms = 0;
  o.idle_timeout_ms = 10'000;
  ArchiveSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  Produce("t", 0, 3);
  EXPECT_EQ(Drain(&sink), 3u);
  clock.Advance(6'000'000);
  Produce("t", 3, 2);
  EXPECT_EQ(Drain(&sink), 2u);  // writing resets the idle timer
  clock.Advance(6'000'000);
  EXPECT_EQ(*sink.PollOnce(0), 0u);
  EXPECT_TRUE(ReadArchive(Root(), Naming(o)).files.empty());
  clock.Advance(4'000'000);
  EXPECT_EQ(*sink.PollOnce(0), 0u);
  Archive a = ReadArchive(Root(), Naming(o));
  ASSERT_EQ(a.files.size(), 1u);
  EXPECT_EQ(a.files[0].lines.size(), 5u);
  EXPECT_TRUE(a.in_use.empty());
  ASSERT_TRUE(sink.Close().ok());
}

TEST_F(ArchiveSinkTest, NewBucketRollsTheOpenFileAndRoundingPicksTheBucket) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  o.path = "archive/%Y%m%d/%H%M";
  o.round = true;
  o.round_value = 10;
  o.round_unit = "minute";
  ArchiveSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  // Minutes 0..24 in steps of 3: buckets 1000, 1010, 1020.
  Produce("t", 0, 9, [](int i) {
    return std::vector<std::pair<std::string, std::string>>{
        {"timestamp", std::to_string(kBaseMs + i * 3 * 60'000)}};
  });
  EXPECT_EQ(Drain(&sink), 9u);
  ASSERT_TRUE(sink.Close().ok());
  Archive a = ReadArchive(Root(), Naming(o));
  std::map<std::string, size_t> per_dir;
  for (const auto& f : a.files) per_dir[f.rel_dir] += f.lines.size();
  EXPECT_EQ(per_dir, (std::map<std::string, size_t>{
                         {"20261123/1000", 4}, {"20261123/1010", 3}, {"20261123/1020", 2}}));
  ExpectContiguous(a, Ends("t"));
}

TEST_F(ArchiveSinkTest, LocalTimestampAndRecordTimeFallback) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000 + 3 * 3'600'000'000LL);  // 13:00
  ArchiveOptions o = Opts();
  o.path = "archive/%H";
  o.use_local_timestamp = true;
  {
    ArchiveSink sink(o, Ctx(&clock));
    Produce("t", 0, 2);
    EXPECT_EQ(Drain(&sink), 2u);
    ASSERT_TRUE(sink.Close().ok());
  }
  o.use_local_timestamp = false;
  {
    ArchiveSink sink(o, Ctx(&clock));
    // No timestamp header: the record time (10:00) decides; an ISO-8601
    // header works too.
    Produce("t", 2, 2, [](int) { return std::vector<std::pair<std::string, std::string>>{}; });
    Produce("t", 4, 1, [](int) {
      return std::vector<std::pair<std::string, std::string>>{
          {"timestamp", "2026-11-23T11:59:59.999Z"}};
    });
    EXPECT_EQ(Drain(&sink), 3u);
    ASSERT_TRUE(sink.Close().ok());
  }
  Archive a = ReadArchive(Root(), Naming(o));
  std::map<std::string, size_t> per_dir;
  for (const auto& f : a.files) per_dir[f.rel_dir] += f.lines.size();
  EXPECT_EQ(per_dir, (std::map<std::string, size_t>{{"13", 2}, {"10", 2}, {"11", 1}}));
}

TEST_F(ArchiveSinkTest, PathThatLeavesTheRootGoesToInvalidPath) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  o.path = "archive/%{dir}/x";
  ArchiveSink sink(o, Ctx(&clock));
  const char* dirs[] = {"ok", "../../escaped", "/tmp/abs", "a/../../..", "ok", "new\nline"};
  Produce("t", 0, 6, [&](int i) {
    return std::vector<std::pair<std::string, std::string>>{{"dir", dirs[i]}};
  });
  EXPECT_EQ(Drain(&sink), 6u);
  ASSERT_TRUE(sink.Close().ok());
  EXPECT_EQ(Counter("txpipe_archive_invalid_path_total"), 4u);
  Archive a = ReadArchive(Root(), Naming(o));
  ExpectExactlyOnce(a, 6);  // nothing vanished
  ExpectContiguous(a, Ends("t"));
  std::map<std::string, size_t> per_dir;
  for (const auto& f : a.files) per_dir[f.rel_dir] += f.lines.size();
  EXPECT_EQ(per_dir, (std::map<std::string, size_t>{{"ok/x", 2}, {"_invalid_path", 4}}));
  // Nothing was written outside the root.
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(dir_ + "/data")) top.push_back(e.path().filename());
  EXPECT_THAT(top, ::testing::ElementsAre("archive"));
  EXPECT_FALSE(fs::exists(dir_ + "/escaped"));
  EXPECT_FALSE(fs::exists("/tmp/abs/x"));
}

TEST_F(ArchiveSinkTest, BucketThatCannotBeCreatedGoesToInvalidPathAfterRetries) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveOptions o = Opts();
  o.path = "archive/%{dir}/x";
  ArchiveSink sink(o, Ctx(&clock));
  ASSERT_TRUE(sink.Open().ok());
  // A regular file where the event's folder would be, and an over-long name.
  { std::ofstream(Root() + "/blocker") << "in the way"; }
  const std::string dirs[] = {"blocker", std::string(300, 'a'), "ok"};
  Produce("t", 0, 3, [&](int i) {
    return std::vector<std::pair<std::string, std::string>>{{"dir", dirs[i]}};
  });
  size_t handled = 0;
  for (int attempt = 0; attempt < 10 && handled < 3; ++attempt) {
    handled += Drain(&sink);
    clock.Advance(std::max<int64_t>(0, sink.backoff_until_us() - clock.MonotonicMicros()));
  }
  EXPECT_EQ(handled, 3u);
  EXPECT_EQ(Counter("txpipe_archive_retries_total"), 4u);  // 5 attempts at the blocked one
  EXPECT_EQ(Counter("txpipe_archive_invalid_path_total"), 2u);
  ASSERT_TRUE(sink.Close().ok());
  Archive a = ReadArchive(Root(), Naming(o));
  ExpectExactlyOnce(a, 3);
  ExpectContiguous(a, Ends("t"));
  std::map<std::string, size_t> per_dir;
  for (const auto& f : a.files) per_dir[f.rel_dir] += f.lines.size();
  EXPECT_EQ(per_dir, (std::map<std::string, size_t>{{"ok/x", 1}, {"_invalid_path", 2}}));
}

TEST_F(ArchiveSinkTest, GzipAndZstdFilesDecompress) {
  ASSERT_TRUE(broker_->CreateTopic("t", 2).ok());
  Produce("t", 0, 3000);
  for (std::string codec : {"gzip", "zstd"}) {
    SCOPED_TRACE(codec);
    base::FakeClock clock(kBaseMs * 1000);
    ArchiveOptions o = Opts();
    o.path = "archive/" + codec + "/%{topic}";
    o.group = "g-" + codec;
    o.codec = codec;
    o.file_suffix = ".json";
    o.roll_count = 1000;
    ArchiveSink sink(o, Ctx(&clock));
    EXPECT_EQ(Drain(&sink), 3000u);
    ASSERT_TRUE(sink.Close().ok());
    Archive a = ReadArchive(Root() + "/" + codec, Naming(o));
    ExpectExactlyOnce(a, 3000);
    ExpectContiguous(a, Ends("t"));
    ASSERT_FALSE(a.files.empty());
    const std::string ext = codec == "gzip" ? ".json.gz" : ".json.zst";
    const std::string tool = codec == "gzip" ? "/usr/bin/zcat" : "/usr/bin/zstd";
    for (const auto& e : fs::recursive_directory_iterator(Root() + "/" + codec)) {
      if (!e.is_regular_file()) continue;
      EXPECT_THAT(e.path().filename().string(), ::testing::EndsWith(ext));
      if (!fs::exists(tool)) continue;
      // The command-line tools read them too.
      std::string cmd = codec == "gzip" ? "/usr/bin/zcat '" + e.path().string() + "'"
                                        : "/usr/bin/zstd -dcq '" + e.path().string() + "'";
      FILE* p = popen(cmd.c_str(), "r");
      ASSERT_NE(p, nullptr);
      std::string out;
      char buf[65536];
      size_t n;
      while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
      EXPECT_EQ(pclose(p), 0) << cmd;
      FileRange r;
      ASSERT_TRUE(ParseFinalFileName(Naming(o), e.path().filename().string(), &r));
      EXPECT_EQ(static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n')),
                r.last - r.first + 1);
    }
  }
}

TEST_F(ArchiveSinkTest, CrashLeavesInUseFilesAndRestartIsExactlyOnce) {
  ASSERT_TRUE(broker_->CreateTopic("t", 2).ok());
  Produce("t", 0, 1000);
  ArchiveOptions o = Opts();
  o.roll_count = 150;
  o.codec = "zstd";
  base::FakeClock clock(kBaseMs * 1000);
  {
    ArchiveSink sink(o, Ctx(&clock));
    ASSERT_TRUE(sink.Open().ok());
    EXPECT_EQ(Drain(&sink), 1000u);
    // Crash: no Close(). Every partition has an in-use file.
  }
  Archive a = ReadArchive(Root(), Naming(o));
  EXPECT_EQ(a.in_use.size(), 2u);
  EXPECT_LT(a.bodies.size(), 1000u);
  // Make the group's offset stale too, as when the process dies between a
  // rename and its commit.
  {
    auto c = broker_->NewConsumer("archive-arch", {"t"}, {});
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Commit({{{"t", 0}, 3}, {{"t", 1}, 0}}).ok());
  }
  Produce("t", 1000, 500);
  {
    ArchiveSink sink(o, Ctx(&clock));
    ASSERT_TRUE(sink.Open().ok());
    EXPECT_EQ(Counter("txpipe_archive_stale_files_removed_total"), 2u);
    for (const auto& f : a.files) {
      TopicPartition tp{f.range.topic, f.range.partition};
      EXPECT_GE(sink.recovered_offsets().at(tp), f.range.last + 1);
    }
    size_t reread = Drain(&sink);
    EXPECT_EQ(reread, 1500u - a.bodies.size());
    ASSERT_TRUE(sink.Close().ok());
  }
  a = ReadArchive(Root(), Naming(o));
  EXPECT_TRUE(a.in_use.empty());
  ExpectExactlyOnce(a, 1500);
  ExpectContiguous(a, Ends("t"));
  auto committed = broker_->GroupOffsets("archive-arch");
  for (const auto& [tp, end] : Ends("t")) EXPECT_EQ(committed[tp], end);
}

TEST_F(ArchiveSinkTest, PowerLossKeepsRolledFilesAndRestartIsExactlyOnce) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  Produce("t", 0, 700);
  ArchiveOptions o = Opts();
  o.roll_count = 200;
  o.codec = "gzip";
  base::FakeClock clock(kBaseMs * 1000);
  io::FaultEnv env;
  {
    ArchiveSink sink(o, Ctx(&clock, &env));
    EXPECT_EQ(Drain(&sink), 700u);
    ASSERT_TRUE(env.Crash(/*torn=*/true, 7).ok());  // unsynced bytes of the in-use file go
  }
  {
    ArchiveSink sink(o, Ctx(&clock, &env));
    ASSERT_TRUE(sink.Open().ok());
    EXPECT_EQ(sink.recovered_offsets().at(TopicPartition{"t", 0}), 600u);
    EXPECT_EQ(Drain(&sink), 100u);
    ASSERT_TRUE(sink.Close().ok());
  }
  Archive a = ReadArchive(Root(), Naming(o));
  ExpectExactlyOnce(a, 700);
  ExpectContiguous(a, Ends("t"));
}

TEST_F(ArchiveSinkTest, WriteErrorsAreRetriedWithoutLossOrDuplicates) {
  ASSERT_TRUE(broker_->CreateTopic("t", 1).ok());
  Produce("t", 0, 300);
  ArchiveOptions o = Opts();
  o.roll_count = 100;
  base::FakeClock clock(kBaseMs * 1000);
  io::FaultEnv env;
  ArchiveSink sink(o, Ctx(&clock, &env));
  ASSERT_TRUE(sink.Open().ok());
  env.FailSyncs(true);
  EXPECT_EQ(Drain(&sink), 100u);  // the first roll fails: its events are re-read
  EXPECT_GE(Counter("txpipe_archive_retries_total"), 1u);
  EXPECT_GT(sink.backoff_until_us(), clock.MonotonicMicros());
  Archive a = ReadArchive(Root(), Naming(o));
  EXPECT_TRUE(a.files.empty());
  EXPECT_TRUE(a.in_use.empty());     // the failed file was removed
  EXPECT_EQ(*sink.PollOnce(0), 0u);  // backing off: no re-read yet
  env.FailSyncs(false);
  clock.Advance(sink.backoff_until_us() - clock.MonotonicMicros());
  EXPECT_EQ(Drain(&sink), 300u);
  ASSERT_TRUE(sink.Close().ok());
  a = ReadArchive(Root(), Naming(o));
  ExpectExactlyOnce(a, 300);
  ExpectContiguous(a, Ends("t"));
}

// kill -9 of a process running the sink, at random moments, several times;
// then a clean run. Every event is archived exactly once.
TEST_F(ArchiveSinkTest, KillNineAtAnyMomentIsExactlyOnce) {
  ASSERT_TRUE(broker_->CreateTopic("t", 2).ok());
  ArchiveOptions o = Opts();
  o.roll_count = 97;
  o.roll_size_bytes = 0;
  o.codec = "gzip";
  int produced = 0;
  size_t in_use_seen = 0;
  for (int round = 0; round < 6; ++round) {
    Produce("t", produced, 20000);
    produced += 20000;
    broker_.reset();  // the child opens the log (it is locked by its owner)
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), dir_ + "/log",
                                                       log::LogOptions{});
      if (!b.ok()) _exit(3);
      runtime::Metrics m;
      runtime::Context c;
      c.broker = b->get();
      c.metrics = &m;
      c.data_dir = dir_ + "/data";
      c.name = "arch";
      ArchiveSink sink(o, c);
      base::StopFlag never;
      base::Status s = sink.Run(never);
      _exit(s.ok() ? 0 : 4);
    }
    // Let it work for a while: until some files are renamed, plus a random bit.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    const size_t before = ReadArchive(Root(), Naming(o)).files.size();
    while (ReadArchive(Root(), Naming(o)).files.size() < before + 1 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(round * 997 % 5000));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    in_use_seen += ReadArchive(Root(), Naming(o)).in_use.size();
    OpenBroker();
  }
  base::FakeClock clock(kBaseMs * 1000);
  ArchiveSink sink(o, Ctx(&clock));
  Drain(&sink);
  ASSERT_TRUE(sink.Close().ok());
  Archive a = ReadArchive(Root(), Naming(o));
  EXPECT_TRUE(a.in_use.empty());
  EXPECT_GT(in_use_seen, 0u);  // the kills did leave files half written
  ExpectExactlyOnce(a, produced);
  ExpectContiguous(a, Ends("t"));
}

}  // namespace
}  // namespace txpipe::sinks::archive
