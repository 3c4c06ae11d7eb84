#include "sinks/archive/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::sinks::archive {
namespace {

using ::testing::HasSubstr;

base::Result<ArchiveOptions> Parse(std::string_view toml) {
  auto root = config::ParseToml(toml, "p.toml");
  if (!root.ok()) return root.status();
  ArchiveOptions o;
  TXP_RETURN_IF_ERROR(ArchiveOptionTable().Parse(*root->Get("sinks")->Get("a"), &o));
  TXP_RETURN_IF_ERROR(ValidateArchiveOptions(o));
  return o;
}

TEST(ArchiveOptionsTest, DefaultsSuitRealUse) {
  ArchiveOptions o;
  EXPECT_EQ(o.roll_interval_ms, 30'000);
  EXPECT_EQ(o.roll_size_bytes, 128u << 20);
  EXPECT_EQ(o.roll_count, 0);
  EXPECT_EQ(o.in_use_suffix, ".tmp");
  EXPECT_EQ(o.file_prefix, "FlumeData");
  EXPECT_EQ(CodecExtension("gzip"), ".gz");
  EXPECT_EQ(CodecExtension("zstd"), ".zst");
  EXPECT_EQ(CodecExtension("none"), "");
  EXPECT_THAT(ArchiveOptionTable().Describe(), HasSubstr("roll_interval_s"));
}

TEST(ArchiveOptionsTest, SnakeCaseAndFlumeAliases) {
  auto o = Parse(R"(
[sinks.a]
type = "archive"
topics = ["finance"]
path = "arch/%{topic}/%Y%m%d"
filePrefix = "events"
fileSuffix = ".json"
rollInterval = 60
rollSize = "64MiB"
rollCount = 1000
idleTimeout = 5
inUsePrefix = "_"
inUseSuffix = ".part"
round = true
roundValue = 10
roundUnit = "minute"
useLocalTimeStamp = true
batchSize = 50
codeC = "gzip"
)");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->path, "arch/%{topic}/%Y%m%d");
  EXPECT_EQ(o->file_prefix, "events");
  EXPECT_EQ(o->file_suffix, ".json");
  EXPECT_EQ(o->roll_interval_ms, 60'000);
  EXPECT_EQ(o->roll_size_bytes, 64u << 20);
  EXPECT_EQ(o->roll_count, 1000);
  EXPECT_EQ(o->idle_timeout_ms, 5'000);
  EXPECT_EQ(o->in_use_prefix, "_");
  EXPECT_EQ(o->in_use_suffix, ".part");
  EXPECT_TRUE(o->round);
  EXPECT_EQ(o->round_value, 10);
  EXPECT_EQ(o->round_unit, "minute");
  EXPECT_TRUE(o->use_local_timestamp);
  EXPECT_EQ(o->batch_size, 50);
  EXPECT_EQ(o->codec, "gzip");
  auto d = Parse("[sinks.a]\ntopics = [\"t\"]\nroll_interval_s = \"500ms\"\n");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->roll_interval_ms, 500);
}

TEST(ArchiveOptionsTest, RejectsBadConfigs) {
  EXPECT_THAT(Parse("[sinks.a]\npath = \"x/%Y\"\n").status().message(), HasSubstr("topics"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\npath = \"%{topic}\"\n").status().message(),
              HasSubstr("fixed directory"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\npath = \"a/%Q\"\n").status().message(),
              HasSubstr("unknown escape"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\nin_use_suffix = \"\"\n").status().message(),
              HasSubstr("look complete"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\nfile_prefix = \"a/b\"\n").status().message(),
              HasSubstr("'/'"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\nround = true\nround_value = 61\nround_unit = "
                    "\"minute\"\n")
                  .status()
                  .message(),
              HasSubstr("round_value"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\ncodec = \"lzo\"\n").status().message(),
              HasSubstr("codec"));
  EXPECT_THAT(Parse("[sinks.a]\ntopics = [\"t\"]\nrollSiz = 1\n").status().message(),
              HasSubstr("unknown option"));
}

}  // namespace
}  // namespace txpipe::sinks::archive
