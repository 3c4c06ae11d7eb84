#include "config/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::config {
namespace {

using ::testing::HasSubstr;

struct SinkOptions {
  std::string path = "archive";            // where files go
  std::string codec = "none";              // none | gzip | zstd
  uint64_t roll_size_bytes = 128ull << 20;  // roll past this size
  int64_t roll_interval_ms = 30'000;       // roll after this long
  int batch_size = 1000;                   // events per write
  bool round = false;
  std::vector<std::string> topics;
};

const OptionTable<SinkOptions>& Table() {
  static const auto* t = &(*new OptionTable<SinkOptions>("archive"))
                              .String("path", &SinkOptions::path, "Where files go")
                              .Enum("codec", &SinkOptions::codec, {"none", "gzip", "zstd"}, "Codec")
                              .Bytes("roll_size_bytes", &SinkOptions::roll_size_bytes,
                                     "Roll past this size", 1)
                              .Alias("rollSize")
                              .DurationMs("roll_interval_s", &SinkOptions::roll_interval_ms,
                                          "Roll after this long", 1000, 1000)
                              .Integer("batch_size", &SinkOptions::batch_size, "Events per write",
                                       1, 1'000'000)
                              .Bool("round", &SinkOptions::round, "Round down the time")
                              .StringList("topics", &SinkOptions::topics, "Topics to read");
  return *t;
}

base::Status ParseInto(std::string_view toml, SinkOptions* o) {
  auto root = ParseToml(toml, "p.toml");
  if (!root.ok()) return root.status();
  const Node* sink = root->Get("sinks")->Get("archive");
  return Table().Parse(*sink, o);
}

TEST(OptionsTest, ParsesEveryKindAndKeepsDefaults) {
  SinkOptions o;
  ASSERT_TRUE(ParseInto(R"(
[sinks.archive]
type = "archive"
path = "arch/%{topic}"
codec = "zstd"
roll_size_bytes = "64MiB"
roll_interval_s = 30
round = true
topics = ["finance", "cars"]
)",
                        &o)
                  .ok());
  EXPECT_EQ(o.path, "arch/%{topic}");
  EXPECT_EQ(o.codec, "zstd");
  EXPECT_EQ(o.roll_size_bytes, 64u << 20);
  EXPECT_EQ(o.roll_interval_ms, 30'000);  // bare integer in seconds
  EXPECT_TRUE(o.round);
  EXPECT_THAT(o.topics, ::testing::ElementsAre("finance", "cars"));
  EXPECT_EQ(o.batch_size, 1000);  // default kept
}

TEST(OptionsTest, ErrorsNameTheKeyPath) {
  auto err = [](std::string body) {
    SinkOptions o;
    base::Status s = ParseInto("[sinks.archive]\n" + body + "\n", &o);
    EXPECT_FALSE(s.ok()) << body;
    return s.message();
  };
  EXPECT_EQ(err("roll_size_bytes = 0"), "p.toml: sinks.archive.roll_size_bytes: must be >= 1");
  EXPECT_EQ(err("batch_size = 0"),
            "p.toml: sinks.archive.batch_size: must be between 1 and 1000000, got 0");
  EXPECT_EQ(err("colour = 1"),
            "p.toml: sinks.archive.colour: unknown option for archive (run 'txpipe check "
            "--describe')");
  EXPECT_EQ(err("codec = \"lz4\""),
            "p.toml: sinks.archive.codec: 'lz4' is not one of: none, gzip, zstd");
  EXPECT_EQ(err("round = \"yes\""),
            "p.toml: sinks.archive.round: expected true or false, got \"yes\"");
  EXPECT_THAT(err("roll_interval_s = \"10 parsecs\""), HasSubstr("sinks.archive.roll_interval_s"));
  EXPECT_THAT(err("roll_interval_s = \"100ms\""), HasSubstr("must be at least 1000 ms"));
  EXPECT_EQ(err("path = 3"), "p.toml: sinks.archive.path: expected a string, got integer");
  EXPECT_EQ(err("topics = [1]"), "p.toml: sinks.archive.topics[0]: expected a string, got integer");
}

TEST(OptionsTest, FlumeStyleUntypedValuesAndAliases) {
  Node t = Node::MakeTable("agent.sinks.k1");
  t.SetOrigin(std::make_shared<const std::string>("flume.conf"), /*untyped=*/true);
  t.Set("rollSize", Node::String("1024", "agent.sinks.k1.rollSize"));
  t.Set("round", Node::String("true", "agent.sinks.k1.round"));
  t.Set("batch_size", Node::String("50", "agent.sinks.k1.batch_size"));
  SinkOptions o;
  ASSERT_TRUE(Table().Parse(t, &o).ok());
  EXPECT_EQ(o.roll_size_bytes, 1024u);
  EXPECT_TRUE(o.round);
  EXPECT_EQ(o.batch_size, 50);
}

TEST(OptionsTest, DescribeListsDefaults) {
  std::string d = Table().Describe();
  EXPECT_THAT(d, HasSubstr("[archive]"));
  EXPECT_THAT(d, HasSubstr("roll_size_bytes"));
  EXPECT_THAT(d, HasSubstr("134217728"));
  EXPECT_THAT(d, HasSubstr("one of: none|gzip|zstd"));
}

TEST(OptionsTest, DurationsAndSizes) {
  EXPECT_EQ(*ParseDurationMs("500ms"), 500);
  EXPECT_EQ(*ParseDurationMs("10s"), 10'000);
  EXPECT_EQ(*ParseDurationMs("2h"), 7'200'000);
  EXPECT_EQ(*ParseDurationMs("7", 1000), 7000);
  EXPECT_FALSE(ParseDurationMs("-1s").ok());
  EXPECT_FALSE(ParseDurationMs("1y").ok());
  EXPECT_EQ(*ParseBytes("128MB"), 128'000'000u);
  EXPECT_EQ(*ParseBytes("64KiB"), 65536u);
  EXPECT_FALSE(ParseBytes("lots").ok());
}

struct RetentionOptions {
  std::map<int64_t, int64_t> retention_ms = {{10'000, 86'400'000}};
};

TEST(OptionsTest, DurationMapParsesKeysAndValuesAndNamesBadOnes) {
  OptionTable<RetentionOptions> table("store");
  table.DurationMap("retention", &RetentionOptions::retention_ms, "Per window size");
  EXPECT_THAT(table.Describe(), HasSubstr("{\"10s\" = \"1d\"}"));
  auto parse = [&](std::string_view toml, RetentionOptions* o) {
    auto root = ParseToml(toml, "p.toml");
    EXPECT_TRUE(root.ok());
    return table.Parse(*root->Get("s"), o);
  };
  RetentionOptions o;
  ASSERT_TRUE(parse("[s]\nretention = {\"1m\" = \"30d\", \"5m\" = 0}\n", &o).ok());
  EXPECT_EQ(o.retention_ms, (std::map<int64_t, int64_t>{{60'000, 30 * 86'400'000LL}, {300'000, 0}}));
  EXPECT_THAT(parse("[s]\nretention = {\"fast\" = \"1d\"}\n", &o).message(),
              HasSubstr("retention.fast: key: expected a duration"));
  EXPECT_THAT(parse("[s]\nretention = {\"1m\" = \"long\"}\n", &o).message(),
              HasSubstr("expected a duration like \"24h\""));
  EXPECT_THAT(parse("[s]\nretention = \"1d\"\n", &o).message(), HasSubstr("expected a table"));
  EXPECT_EQ(FormatDurationMs(90'000), "90s");
  EXPECT_EQ(FormatDurationMs(1500), "1500ms");
  EXPECT_EQ(FormatDurationMs(0), "0s");
}

struct HeaderOptions {
  std::map<std::string, std::string> headers;
};

TEST(OptionsTest, StringMapParsesStringValuesAndNamesBadOnes) {
  OptionTable<HeaderOptions> table("webhook");
  table.StringMap("headers", &HeaderOptions::headers, "Extra headers");
  EXPECT_THAT(table.Describe(), HasSubstr("{}"));
  auto parse = [&](std::string_view toml, HeaderOptions* o) {
    auto root = ParseToml(toml, "p.toml");
    EXPECT_TRUE(root.ok());
    return table.Parse(*root->Get("s"), o);
  };
  HeaderOptions o;
  ASSERT_TRUE(parse("[s]\nheaders = {Authorization = \"Bearer x\", X-Team = \"ops\"}\n", &o).ok());
  EXPECT_EQ(o.headers, (std::map<std::string, std::string>{{"Authorization", "Bearer x"},
                                                           {"X-Team", "ops"}}));
  // Describe shows keys, never values (they may be secrets).
  EXPECT_THAT(table.Describe(o), HasSubstr("{\"Authorization\" = ..., \"X-Team\" = ...}"));
  EXPECT_THAT(table.Describe(o), ::testing::Not(HasSubstr("Bearer")));
  EXPECT_THAT(parse("[s]\nheaders = {X-N = 1}\n", &o).message(),
              HasSubstr("s.headers.X-N: expected a string"));
  EXPECT_THAT(parse("[s]\nheaders = \"a\"\n", &o).message(), HasSubstr("expected a table"));
}

TEST(OptionsTest, TomlSyntaxErrorsHaveLineAndColumn) {
  auto r = ParseToml("a = 1\nb = \n", "x.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("x.toml:2:"));
}

}  // namespace
}  // namespace txpipe::config
