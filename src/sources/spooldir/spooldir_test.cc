#include "sources/spooldir/spooldir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "brokers/embedded/embedded_broker.h"
#include "config/node.h"
#include "io/testing/fault_env.h"
#include "sources/generator/generator.h"

namespace txpipe::sources::spooldir {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class SpoolDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::temp_directory_path() /
             ("txpipe_spooldir_" + std::to_string(getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    fs::remove_all(root_);
    fs::create_directories(root_ + "/spool");
    spool_ = root_ + "/spool";
    auto b = brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), root_ + "/broker",
                                                     log::LogOptions{});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    broker_ = std::move(b).value();
    ASSERT_TRUE(broker_->CreateTopic("finance", 2).ok());
    ctx_.broker = broker_.get();
    ctx_.metrics = &metrics_;
    ctx_.data_dir = root_;
    ctx_.name = "files";
    o_.spool_dir = "spool";
    o_.topic = "finance";
    o_.min_file_age_ms = 0;
    o_.poll_interval_ms = 5;
  }
  void TearDown() override {
    broker_.reset();
    fs::remove_all(root_);
  }

  // Writes a whole file (hidden name, then renamed into view).
  void Write(const std::string& name, const std::string& content) {
    std::string tmp = spool_ + "/.tmp_" + std::to_string(counter_++);
    std::ofstream(tmp, std::ios::binary) << content;
    fs::create_directories(fs::path(spool_ + "/" + name).parent_path());
    fs::rename(tmp, spool_ + "/" + name);
  }

  // Every event of `topic`, in partition-then-offset order.
  std::vector<core::Event> ReadTopic(const std::string& topic) {
    std::vector<core::Event> out;
    auto c = broker_->NewConsumer("reader" + std::to_string(counter_++), {topic}, {});
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return out;
    auto info = broker_->Describe(topic);
    std::map<runtime::TopicPartition, uint64_t> end;
    for (const auto& p : info->partitions) end[{topic, p.partition}] = p.end_offset;
    std::map<int, std::vector<core::Event>> by_part;
    auto behind = [&] {
      for (const auto& [tp, e] : end) {
        if ((*c)->position(tp) < e) return true;
      }
      return false;
    };
    while (behind()) {
      auto n = (*c)->Poll(100, [&](const runtime::Message& m) {
        core::Event e;
        e.timestamp_ms = m.event.timestamp_ms;
        e.key = std::string(m.event.key);
        for (const auto& h : m.event.headers) e.headers.emplace_back(h.key, h.value);
        e.body = std::string(m.event.body);
        by_part[m.tp->partition].push_back(std::move(e));
      });
      EXPECT_TRUE(n.ok());
      if (!n.ok()) break;
    }
    for (auto& [p, v] : by_part) {
      for (auto& e : v) out.push_back(std::move(e));
    }
    return out;
  }
  static std::vector<std::string> Bodies(const std::vector<core::Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.body);
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string Header(const core::Event& e, const std::string& k) {
    for (const auto& [hk, hv] : e.headers) {
      if (hk == k) return hv;
    }
    return "<none>";
  }
  uint64_t Metric(const std::string& name, runtime::Labels extra = {}) {
    runtime::Labels l = {{"component", "files"}};
    for (auto& e : extra) l.push_back(e);
    return metrics_.CounterValue(name, l);
  }

  // Starts a source and polls until a poll finishes nothing.
  void IngestAll(SpoolDirSource* src) {
    ASSERT_TRUE(src->Start(stop_).ok());
    for (int i = 0; i < 100; ++i) {
      auto r = src->PollOnce(stop_);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (*r == 0) return;
    }
  }
  void IngestAll() {
    SpoolDirSource src(o_, ctx_);
    IngestAll(&src);
  }

  std::string root_, spool_;
  std::unique_ptr<brokers::embedded::EmbeddedBroker> broker_;
  runtime::Metrics metrics_;
  runtime::Context ctx_;
  SpoolDirOptions o_;
  base::StopFlag stop_;
  int counter_ = 0;
};

TEST(SpoolDirOptionsTest, ParsesSnakeCaseAndFlumeKeys) {
  auto root = config::ParseToml(R"(
[s]
type = "spooldir"
spoolDir = "in"
topic = "finance"
fileSuffix = ".DONE"
deletePolicy = "immediate"
trackingPolicy = "tracker_dir"
includePattern = "^.*\\.json$"
consumeOrder = "youngest"
recursiveDirectorySearch = true
fileHeader = true
basenameHeader = true
batchSize = 250
inputCharset = "ISO-8859-1"
decodeErrorPolicy = "REPLACE"
max_line_length = "4KiB"
long_line_policy = "dead_letter"
min_file_age_ms = "2s"
key_field = "account_id"
)",
                                "p.toml");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  SpoolDirOptions o;
  ASSERT_TRUE(SpoolDirOptionTable().Parse(*root->Get("s"), &o).ok());
  EXPECT_EQ(o.spool_dir, "in");
  EXPECT_EQ(o.file_suffix, ".DONE");
  EXPECT_EQ(o.delete_policy, "immediate");
  EXPECT_EQ(o.tracking_policy, "tracker_dir");
  EXPECT_EQ(o.consume_order, "youngest");
  EXPECT_TRUE(o.recursive_directory_search);
  EXPECT_EQ(o.batch_size, 250);
  EXPECT_EQ(o.input_charset, "ISO-8859-1");
  EXPECT_EQ(o.decode_error_policy, "REPLACE");
  EXPECT_EQ(o.max_line_length, 4096u);
  EXPECT_EQ(o.min_file_age_ms, 2000);
  EXPECT_EQ(o.tracker_dir, ".flumespool");  // default kept
  EXPECT_TRUE(ValidateSpoolDirOptions(o).ok());
  std::string d = SpoolDirOptionTable().Describe();
  EXPECT_THAT(d, HasSubstr("spool_dir"));
  EXPECT_THAT(d, HasSubstr("decode_error_policy"));

  SpoolDirOptions bad;
  bad.topic = "t";
  EXPECT_THAT(ValidateSpoolDirOptions(bad).message(), HasSubstr("spool_dir is required"));
  bad.spool_dir = "x";
  bad.ignore_pattern = "([";
  EXPECT_THAT(ValidateSpoolDirOptions(bad).message(), HasSubstr("bad regex"));
}

TEST_F(SpoolDirTest, IngestsLinesWithHeadersAndMarksFilesDone) {
  o_.key_field = "account_id";
  o_.file_header = true;
  o_.basename_header = true;
  o_.ignore_pattern = "^.*\\.tmp$";
  Write("a.json",
        "{\"account_id\": \"A1\", \"n\": 1}\r\n\n{\"account_id\": \"A2\", \"n\": 2}\n"
        "{\"n\": 3}");  // no key; last line without '\n'
  Write("b.tmp", "ignored\n");
  std::ofstream(spool_ + "/.hidden") << "hidden\n";
  IngestAll();
  auto events = ReadTopic("finance");
  ASSERT_EQ(events.size(), 3u);
  std::map<std::string, core::Event> by_body;
  for (auto& e : events) by_body[e.body] = e;
  ASSERT_TRUE(by_body.count("{\"account_id\": \"A1\", \"n\": 1}"));  // no '\r'
  const core::Event& e1 = by_body["{\"account_id\": \"A1\", \"n\": 1}"];
  EXPECT_EQ(e1.key, "A1");
  EXPECT_EQ(Header(e1, "key"), "A1");
  EXPECT_EQ(Header(e1, "file"), spool_ + "/a.json");
  EXPECT_EQ(Header(e1, "basename"), "a.json");
  EXPECT_EQ(Header(e1, "topic"), "finance");
  EXPECT_EQ(Header(e1, "spool.pos"), "30");
  EXPECT_EQ(Header(e1, "spool.file").size(), 16u);
  EXPECT_GT(e1.timestamp_ms, 1'700'000'000'000);
  EXPECT_EQ(Header(e1, "timestamp"), std::to_string(e1.timestamp_ms));
  const core::Event& e3 = by_body["{\"n\": 3}"];
  EXPECT_EQ(e3.key, "");
  EXPECT_EQ(Header(e3, "spool.pos"), "68");
  EXPECT_TRUE(fs::exists(spool_ + "/a.json.COMPLETED"));
  EXPECT_FALSE(fs::exists(spool_ + "/a.json"));
  EXPECT_TRUE(fs::exists(spool_ + "/b.tmp"));
  EXPECT_TRUE(fs::exists(spool_ + "/.hidden"));
  EXPECT_EQ(Metric("txpipe_spooldir_empty_lines_total"), 1u);
  EXPECT_EQ(Metric("txpipe_spooldir_missing_key_total"), 1u);
  EXPECT_EQ(Metric("txpipe_spooldir_files_total"), 1u);
  EXPECT_EQ(Metric("txpipe_spooldir_events_total"), 3u);
}

TEST_F(SpoolDirTest, RecursiveSearchIncludePatternAndOldestFirst) {
  o_.recursive_directory_search = true;
  o_.include_pattern = "^.*\\.json$";
  o_.batch_size = 1;
  Write("sub/deep/c.json", "c\n");
  Write("b.json", "b\n");
  Write("a.json", "a\n");
  Write("x.csv", "x\n");
  auto now = fs::file_time_type::clock::now();
  fs::last_write_time(spool_ + "/sub/deep/c.json", now - std::chrono::hours(3));
  fs::last_write_time(spool_ + "/b.json", now - std::chrono::hours(2));
  fs::last_write_time(spool_ + "/a.json", now - std::chrono::hours(1));
  ASSERT_TRUE(broker_->CreateTopic("one", 1).ok());
  o_.topic = "one";
  IngestAll();
  auto events = ReadTopic("one");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].body, "c");  // oldest first
  EXPECT_EQ(events[1].body, "b");
  EXPECT_EQ(events[2].body, "a");
  EXPECT_TRUE(fs::exists(spool_ + "/sub/deep/c.json.COMPLETED"));
  EXPECT_TRUE(fs::exists(spool_ + "/x.csv"));
}

TEST_F(SpoolDirTest, YoungestFirst) {
  o_.consume_order = "youngest";
  ASSERT_TRUE(broker_->CreateTopic("one", 1).ok());
  o_.topic = "one";
  Write("a", "a\n");
  Write("b", "b\n");
  auto now = fs::file_time_type::clock::now();
  fs::last_write_time(spool_ + "/a", now - std::chrono::hours(3));
  fs::last_write_time(spool_ + "/b", now - std::chrono::hours(2));
  IngestAll();
  auto events = ReadTopic("one");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].body, "b");
}

TEST_F(SpoolDirTest, DeletePolicyImmediate) {
  o_.delete_policy = "immediate";
  Write("a.json", "1\n2\n");
  IngestAll();
  EXPECT_EQ(ReadTopic("finance").size(), 2u);
  EXPECT_FALSE(fs::exists(spool_ + "/a.json"));
  EXPECT_FALSE(fs::exists(spool_ + "/a.json.COMPLETED"));
}

TEST_F(SpoolDirTest, TrackerDirMarksDoneAndCatchesChangesAndReuse) {
  o_.tracking_policy = "tracker_dir";
  Write("a.json", "1\n2\n");
  Write("b.json", "3\n");
  IngestAll();
  EXPECT_EQ(ReadTopic("finance").size(), 3u);
  EXPECT_TRUE(fs::exists(spool_ + "/a.json"));  // left as it is
  EXPECT_TRUE(fs::exists(spool_ + "/.flumespool/a.json.COMPLETED"));
  // A new source instance (restart) does not read them again.
  IngestAll();
  EXPECT_EQ(ReadTopic("finance").size(), 3u);
  // a.json changed after it was done; b.json replaced by a new file.
  std::ofstream(spool_ + "/a.json", std::ios::app) << "late\n";
  Write("b.json", "other\n");  // renamed over it: a new inode
  IngestAll();
  EXPECT_EQ(ReadTopic("finance").size(), 3u);
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/a.json"));
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/b.json"));
  EXPECT_EQ(Metric("txpipe_spooldir_quarantined_total", {{"reason", "modified"}}), 1u);
  EXPECT_EQ(Metric("txpipe_spooldir_quarantined_total", {{"reason", "name_reused"}}), 1u);
}

TEST_F(SpoolDirTest, ReusedNameIsQuarantinedAndTheSourceKeepsRunning) {
  Write("a.json", "1\n");
  IngestAll();
  Write("a.json", "again\n");
  Write("b.json", "2\n");
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), (std::vector<std::string>{"1", "2"}));
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/a.json"));
  std::string reason = ReadAll(spool_ + "/quarantine/a.json.reason");
  EXPECT_THAT(reason, HasSubstr("already ingested"));
  EXPECT_THAT(reason, HasSubstr("name_reused"));
  EXPECT_EQ(Metric("txpipe_spooldir_quarantined_total", {{"reason", "name_reused"}}), 1u);
  // A second reuse of the name gets its own quarantine entry.
  Write("a.json", "third\n");
  IngestAll();
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/a.json.1"));
}

TEST_F(SpoolDirTest, FileModifiedWhileBeingReadIsQuarantined) {
  o_.batch_size = 2;
  std::string content;
  for (int i = 0; i < 10; ++i) content += "line" + std::to_string(i) + "\n";
  Write("a.json", content);
  Write("b.json", "b\n");
  SpoolDirSource src(o_, ctx_);
  bool appended = false;
  src.SetBatchHookForTest([&] {
    if (!appended && fs::exists(spool_ + "/a.json")) {
      appended = true;
      std::ofstream(spool_ + "/a.json", std::ios::app) << "more\n";
    }
  });
  IngestAll(&src);
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/a.json"));
  EXPECT_THAT(ReadAll(spool_ + "/quarantine/a.json.reason"), HasSubstr("changed while"));
  EXPECT_EQ(Metric("txpipe_spooldir_quarantined_total", {{"reason", "modified"}}), 1u);
  auto bodies = Bodies(ReadTopic("finance"));
  EXPECT_THAT(bodies, ::testing::Contains("b"));  // the source went on
  EXPECT_TRUE(fs::exists(spool_ + "/b.json.COMPLETED"));
}

// The settle rule, with time driven by hand: a file is taken only after it
// has been unchanged for min_file_age_ms.
TEST_F(SpoolDirTest, TakesAFileOnlyOnceSettled) {
  base::FakeClock clock(0);  // epoch 0: mtimes are "in the future", only observation counts
  ctx_.clock = &clock;
  o_.min_file_age_ms = 500;
  std::string path = spool_ + "/growing.json";
  std::ofstream(path) << "1\n";
  SpoolDirSource src(o_, ctx_);
  ASSERT_TRUE(src.Start(stop_).ok());
  EXPECT_EQ(*src.PollOnce(stop_), 0);  // first seen at t=0
  clock.Advance(300'000);
  std::ofstream(path, std::ios::app) << "2\n";
  EXPECT_EQ(*src.PollOnce(stop_), 0);  // changed: seen anew at t=300ms
  clock.Advance(400'000);
  EXPECT_EQ(*src.PollOnce(stop_), 0);  // unchanged for 400 ms only
  EXPECT_TRUE(ReadTopic("finance").empty());
  clock.Advance(200'000);
  EXPECT_EQ(*src.PollOnce(stop_), 1);  // 600 ms
  EXPECT_EQ(Bodies(ReadTopic("finance")), (std::vector<std::string>{"1", "2"}));
}

// The seed's writer appends to a file while the source runs (what kills
// Flume): the file ends up in the topic completely, exactly once.
TEST_F(SpoolDirTest, FileAppendedWhileTheSourceRunsIsIngestedOnceAndWhole) {
  o_.min_file_age_ms = 1000;  // far above the writer's pauses, even on a loaded machine
  o_.batch_size = 7;
  SpoolDirSource src(o_, ctx_);
  base::StopFlag stop;
  base::Status run_status;
  std::thread runner([&] { run_status = src.Run(stop); });
  constexpr int kLines = 400;
  std::vector<std::string> want;
  {
    std::ofstream out(spool_ + "/finance_transactions_20261123_100000.json");
    for (int i = 0; i < kLines; ++i) {
      std::string line = "{\"n\": " + std::to_string(i) + "}";
      want.push_back(line);
      out << line << "\n" << std::flush;
      // The writer's pace (this is the input, not a wait for a result).
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(spool_ + "/finance_transactions_20261123_100000.json.COMPLETED") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll with a deadline
  }
  stop.Request();
  runner.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Bodies(ReadTopic("finance")), want);
  EXPECT_FALSE(fs::exists(spool_ + "/quarantine"));
}

TEST_F(SpoolDirTest, LongLinesAreSplitAtCharacterBoundaries) {
  o_.max_line_length = 64;
  ASSERT_TRUE(broker_->CreateTopic("one", 1).ok());
  o_.topic = "one";
  std::string long_line;
  for (int i = 0; i < 50; ++i)
    long_line +=
        "\xE2\x82\xAC"
        "ab";  // 250 bytes
  Write("a.json", "short\n" + long_line + "\r\nend\n");
  IngestAll();
  auto events = ReadTopic("one");
  ASSERT_GE(events.size(), 6u);
  EXPECT_EQ(events[0].body, "short");
  std::string joined;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_LE(events[i].body.size(), 64u);
    joined += events[i].body;
  }
  EXPECT_EQ(joined, long_line);
  EXPECT_EQ(events.back().body, "end");
  EXPECT_EQ(Metric("txpipe_spooldir_split_lines_total"), 1u);
}

// A line longer than the 1 MiB read buffer is cut while it streams in; a
// stop between its pieces resumes at the same cuts.
TEST_F(SpoolDirTest, LineLongerThanTheReadBufferIsSplitAcrossAStop) {
  o_.max_line_length = 100'000;
  o_.batch_size = 3;
  ASSERT_TRUE(broker_->CreateTopic("one", 1).ok());
  o_.topic = "one";
  std::string long_line;
  for (int i = 0; long_line.size() < 2'500'000; ++i) {
    long_line += (i % 7 == 0) ? "\xC3\xA9" : "abcdefghij";  // 2-byte characters here and there
  }
  Write("a.json", "first\n" + long_line + "\r\nlast\n");
  {
    SpoolDirSource src(o_, ctx_);
    base::StopFlag stop;
    int batches = 0;
    src.SetBatchHookForTest([&] {
      if (++batches == 4) stop.Request();
    });
    ASSERT_TRUE(src.Run(stop).ok());
  }
  EXPECT_EQ(ReadTopic("one").size(), 12u);
  IngestAll();
  auto events = ReadTopic("one");
  ASSERT_GE(events.size(), 27u);
  EXPECT_EQ(events.front().body, "first");
  EXPECT_EQ(events.back().body, "last");
  std::string joined;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_LE(events[i].body.size(), 100'000u);
    EXPECT_TRUE(IsValidText(Charset::kUtf8, events[i].body)) << "piece " << i;
    joined += events[i].body;
  }
  EXPECT_TRUE(joined == long_line) << joined.size() << " vs " << long_line.size();
}

TEST_F(SpoolDirTest, LongLinesCanGoWholeToTheDeadLetterTopic) {
  o_.max_line_length = 64;
  o_.long_line_policy = "dead_letter";
  std::string long_line(300, 'x');
  Write("a.json", "short\n" + long_line + "\nend\n");
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), (std::vector<std::string>{"end", "short"}));
  auto dlq = ReadTopic("finance.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].body, long_line);
  EXPECT_THAT(Header(dlq[0], "error"), HasSubstr("max_line_length"));
  EXPECT_EQ(Header(dlq[0], "spool.pos"), std::to_string(6 + 301));
  EXPECT_EQ(Metric("txpipe_spooldir_dead_letter_total"), 1u);
}

TEST_F(SpoolDirTest, UndecodableFileIsQuarantinedWholeUnderFail) {
  Write("latin.json", "ok\ncaf\xE9\nok2\n");  // ISO-8859-1 bytes in a UTF-8 source
  Write("good.json", "fine\n");
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), (std::vector<std::string>{"fine"}));
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/latin.json"));
  EXPECT_THAT(ReadAll(spool_ + "/quarantine/latin.json.reason"), HasSubstr("at byte 6 (line 2)"));
  EXPECT_EQ(Metric("txpipe_spooldir_quarantined_total", {{"reason", "decode_error"}}), 1u);
}

TEST_F(SpoolDirTest, ReplaceAndIgnorePoliciesAndLatin1) {
  o_.decode_error_policy = "replace";
  Write("a.json", "caf\xE9\n");
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), (std::vector<std::string>{"caf\xEF\xBF\xBD"}));
  EXPECT_EQ(Metric("txpipe_spooldir_decode_errors_total"), 1u);

  o_.decode_error_policy = "ignore";
  Write("b.json", "t\xFFo\n");
  IngestAll();
  EXPECT_THAT(Bodies(ReadTopic("finance")), ::testing::Contains("to"));
  EXPECT_EQ(Metric("txpipe_spooldir_decode_errors_total"), 2u);

  o_.input_charset = "ISO-8859-1";
  o_.decode_error_policy = "fail";
  Write("c.json", "na\xEFve\n");
  IngestAll();
  EXPECT_THAT(Bodies(ReadTopic("finance")), ::testing::Contains("na\xC3\xAFve"));
}

TEST_F(SpoolDirTest, Utf16FileIsQuarantinedAndUtf8BomIsStripped) {
  Write("u16.json", std::string("\xFF\xFE{\0\"\0", 6));
  Write("bom.json", "\xEF\xBB\xBF{\"a\": 1}\n");
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), (std::vector<std::string>{"{\"a\": 1}"}));
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/u16.json"));
  EXPECT_EQ(Metric("txpipe_spooldir_quarantined_total", {{"reason", "not_text"}}), 1u);
}

// A stop in the middle of a file leaves it half-read; the next run resumes
// at the acknowledged line.
TEST_F(SpoolDirTest, StopMidFileThenResume) {
  o_.batch_size = 10;
  std::vector<std::string> want;
  std::string content;
  for (int i = 0; i < 95; ++i) {
    want.push_back("l" + std::to_string(i));
    content += want.back() + "\n";
  }
  std::sort(want.begin(), want.end());
  Write("a.json", content);
  {
    SpoolDirSource src(o_, ctx_);
    int batches = 0;
    base::StopFlag stop;
    src.SetBatchHookForTest([&] {
      if (++batches == 3) stop.Request();
    });
    ASSERT_TRUE(src.Run(stop).ok());
  }
  EXPECT_EQ(ReadTopic("finance").size(), 30u);
  EXPECT_TRUE(fs::exists(spool_ + "/a.json"));
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), want);
  EXPECT_EQ(Metric("txpipe_spooldir_recovered_lines_total"), 0u);
}

// The progress write after a flush fails (as a crash between the two would
// leave it): the next run finds the flushed events in the topic and sends
// none of them again.
TEST_F(SpoolDirTest, CrashBetweenFlushAndProgressWriteDuplicatesNothing) {
  o_.batch_size = 10;
  o_.checkpoint_interval_ms = 0;  // a progress write after every batch
  o_.key_field = "k";             // keyed: events spread over both partitions
  std::vector<std::string> want;
  std::string content;
  for (int i = 0; i < 100; ++i) {
    want.push_back("{\"k\": \"K" + std::to_string(i % 7) + "\", \"i\": " + std::to_string(i) + "}");
    content += want.back() + "\n";
  }
  std::sort(want.begin(), want.end());
  Write("a.json", content);
  for (int64_t budget : {700, 700}) {
    io::FaultEnv fenv;
    fenv.FailWritesAfter(budget);  // a progress write in the middle fails
    runtime::Context ctx = ctx_;
    ctx.env = &fenv;
    SpoolDirSource src(o_, ctx);
    // The failure comes in the first poll, or (second round) while the
    // restart resumes the half-read file.
    base::Status st = src.Start(stop_);
    if (st.ok()) st = src.PollOnce(stop_).status();
    ASSERT_FALSE(st.ok());
  }
  EXPECT_TRUE(fs::exists(spool_ + "/a.json"));
  size_t before = ReadTopic("finance").size();
  EXPECT_GT(before, 0u);
  IngestAll();
  EXPECT_EQ(Bodies(ReadTopic("finance")), want);
  EXPECT_GT(Metric("txpipe_spooldir_recovered_lines_total"), 0u);
  EXPECT_TRUE(fs::exists(spool_ + "/a.json.COMPLETED"));
}

// A half-read file that changes before the restart goes to quarantine.
TEST_F(SpoolDirTest, HalfReadFileChangedBeforeRestartIsQuarantined) {
  o_.batch_size = 5;
  std::string content;
  for (int i = 0; i < 20; ++i) content += "l" + std::to_string(i) + "\n";
  Write("a.json", content);
  {
    SpoolDirSource src(o_, ctx_);
    base::StopFlag stop;
    src.SetBatchHookForTest([&] { stop.Request(); });
    ASSERT_TRUE(src.Run(stop).ok());
  }
  std::ofstream(spool_ + "/a.json", std::ios::app) << "extra\n";
  Write("b.json", "b\n");
  IngestAll();
  EXPECT_TRUE(fs::exists(spool_ + "/quarantine/a.json"));
  EXPECT_THAT(ReadAll(spool_ + "/quarantine/a.json.reason"), HasSubstr("bytes [0, 15)"));
  EXPECT_THAT(Bodies(ReadTopic("finance")), ::testing::Contains("b"));
}

// A broker whose producers' Flush can be told to fail once after the data
// is durable (an acknowledgement lost on the way): the source backs off,
// counts a retry, resumes as after a crash, and duplicates nothing.
class FlakyBroker : public runtime::Broker {
 public:
  explicit FlakyBroker(runtime::Broker* real) : real_(real) {}
  std::atomic<int> fail_flushes{0};

  base::Status CreateTopic(const std::string& t, int p) override {
    return real_->CreateTopic(t, p);
  }
  base::Result<runtime::TopicInfo> Describe(const std::string& t) const override {
    return real_->Describe(t);
  }
  std::vector<std::string> Topics() const override { return real_->Topics(); }
  base::Result<std::unique_ptr<runtime::Producer>> NewProducer(
      const std::string& topic, const runtime::ProducerOptions& o) override {
    auto p = real_->NewProducer(topic, o);
    if (!p.ok()) return p.status();
    return std::unique_ptr<runtime::Producer>(new Producer(std::move(p).value(), this));
  }
  base::Result<std::unique_ptr<runtime::Consumer>> NewConsumer(
      const std::string& g, const std::vector<std::string>& t,
      const runtime::ConsumerOptions& o) override {
    return real_->NewConsumer(g, t, o);
  }
  std::map<runtime::TopicPartition, uint64_t> GroupOffsets(const std::string& g) const override {
    return real_->GroupOffsets(g);
  }
  std::vector<std::string> Groups() const override { return real_->Groups(); }

 private:
  class Producer : public runtime::Producer {
   public:
    Producer(std::unique_ptr<runtime::Producer> p, FlakyBroker* b) : p_(std::move(p)), b_(b) {}
    base::Status Add(const core::EventView& e) override { return p_->Add(e); }
    base::Status Flush() override {
      TXP_RETURN_IF_ERROR(p_->Flush());
      if (p_->pending() == 0 && b_->fail_flushes.load() > 0) {
        b_->fail_flushes.fetch_sub(1);
        return base::Status::Unavailable("injected: acknowledgement lost");
      }
      return base::Status::OK();
    }
    size_t pending() const override { return p_->pending(); }

   private:
    std::unique_ptr<runtime::Producer> p_;
    FlakyBroker* b_;
  };
  runtime::Broker* real_;
};

TEST_F(SpoolDirTest, BrokerErrorIsRetriedWithoutDuplicates) {
  FlakyBroker flaky(broker_.get());
  ctx_.broker = &flaky;
  o_.batch_size = 10;
  std::vector<std::string> want;
  std::string content;
  for (int i = 0; i < 100; ++i) {
    want.push_back("l" + std::to_string(i));
    content += want.back() + "\n";
  }
  std::sort(want.begin(), want.end());
  SpoolDirSource src(o_, ctx_);
  int batches = 0;
  src.SetBatchHookForTest([&] {
    if (++batches == 3) flaky.fail_flushes = 1;  // the next flush fails, after its data is durable
  });
  Write("a.json", content);
  base::StopFlag stop;
  base::Status run_status;
  std::thread runner([&] { run_status = src.Run(stop); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(spool_ + "/a.json.COMPLETED") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll with a deadline
  }
  stop.Request();
  runner.join();
  ASSERT_TRUE(run_status.ok()) << run_status.ToString();
  EXPECT_EQ(Bodies(ReadTopic("finance")), want);
  EXPECT_EQ(Metric("txpipe_spooldir_retries_total"), 1u);
  EXPECT_GT(Metric("txpipe_spooldir_recovered_lines_total"), 0u);
}

TEST_F(SpoolDirTest, OneSourcePerFolder) {
  SpoolDirSource a(o_, ctx_);
  ASSERT_TRUE(a.Start(stop_).ok());
  SpoolDirSource b(o_, ctx_);
  base::Status s = b.Start(stop_);
  EXPECT_EQ(s.code(), base::Code::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("locked"));
}

TEST_F(SpoolDirTest, RunRejectsBadOptions) {
  o_.include_pattern = "(";
  SpoolDirSource src(o_, ctx_);
  base::Status s = src.Run(stop_);
  EXPECT_EQ(s.code(), base::Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bad regex"));
}

// 200,000 seed finance events in 100 files -> topic; prints the rate.
TEST_F(SpoolDirTest, ThroughputOfGeneratedFinanceFiles) {
  auto gen = generator::MakeGenerator("finance", 7);
  ASSERT_TRUE(gen.ok());
  constexpr int kFiles = 100, kPerFile = 2000;
  uint64_t bytes = 0;
  int64_t t = 1'795'946'400'000'000;
  for (int f = 0; f < kFiles; ++f) {
    generator::Buffer buf;
    for (int i = 0; i < kPerFile; ++i) (*gen)->Append(t += 1000, &buf);
    bytes += buf.size();
    Write("finance_" + std::to_string(1000 + f) + ".json", std::string(buf.view()));
  }
  o_.key_field = "account_id";
  if (const char* b = std::getenv("TXPIPE_SPOOLDIR_BATCH")) o_.batch_size = std::atoi(b);
  SpoolDirSource src(o_, ctx_);
  auto t0 = std::chrono::steady_clock::now();
  IngestAll(&src);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(Metric("txpipe_spooldir_events_total"), uint64_t{kFiles} * kPerFile);
  EXPECT_EQ(Metric("txpipe_spooldir_files_total"), uint64_t{kFiles});
  std::printf(
      "spooldir: batch_size %d: %d events (%.1f MB) in %d files in %.3f s: %.0f events/s, %.1f "
      "MB/s\n",
      o_.batch_size, kFiles * kPerFile, bytes / 1e6, kFiles, secs, kFiles * kPerFile / secs,
      bytes / 1e6 / secs);
  auto info = broker_->Describe("finance");
  uint64_t total = 0;
  for (const auto& p : info->partitions) total += p.end_offset;
  EXPECT_EQ(total, uint64_t{kFiles} * kPerFile);
}

// The seed's layout: one small file per second of events (here 2,000 files
// of 10 events). Prints the rate; bound by the per-file fsyncs.
TEST_F(SpoolDirTest, ThroughputOfManySmallFiles) {
  auto gen = generator::MakeGenerator("finance", 8);
  ASSERT_TRUE(gen.ok());
  constexpr int kFiles = 2000, kPerFile = 10;
  int64_t t = 1'795'946'400'000'000;
  for (int f = 0; f < kFiles; ++f) {
    generator::Buffer buf;
    for (int i = 0; i < kPerFile; ++i) (*gen)->Append(t += 1000, &buf);
    Write("finance_" + std::to_string(10000 + f) + ".json", std::string(buf.view()));
  }
  o_.key_field = "account_id";
  SpoolDirSource src(o_, ctx_);
  auto t0 = std::chrono::steady_clock::now();
  IngestAll(&src);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(Metric("txpipe_spooldir_events_total"), uint64_t{kFiles} * kPerFile);
  EXPECT_EQ(Metric("txpipe_spooldir_files_total"), uint64_t{kFiles});
  std::printf("spooldir: %d small files (%d events) in %.3f s: %.0f files/s, %.0f events/s\n",
              kFiles, kFiles * kPerFile, secs, kFiles / secs, kFiles * kPerFile / secs);
}

}  // namespace
}  // namespace txpipe::sources::spooldir
