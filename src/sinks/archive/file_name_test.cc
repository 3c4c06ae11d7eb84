#include "sinks/archive/file_name.h"

#include <gtest/gtest.h>

namespace txpipe::sinks::archive {
namespace {

TEST(FileNameTest, FinalAndInUseNamesRoundTrip) {
  FileNaming n{"FlumeData", ".json.gz", "_", ".tmp"};
  std::string fin = FinalFileName(n, "fin.ance-1", 3, 7, 1234);
  EXPECT_EQ(fin, "FlumeData.fin.ance-1+3+00000000000000000007+00000000000000001234.json.gz");
  FileRange r;
  ASSERT_TRUE(ParseFinalFileName(n, fin, &r));
  EXPECT_EQ(r.topic, "fin.ance-1");
  EXPECT_EQ(r.partition, 3);
  EXPECT_EQ(r.first, 7u);
  EXPECT_EQ(r.last, 1234u);
  EXPECT_FALSE(ParseInUseFileName(n, fin, &r));

  std::string use = InUseFileName(n, "t", 0, 18446744073709551615ull);
  EXPECT_EQ(use, "_FlumeData.t+0+18446744073709551615.json.gz.tmp");
  ASSERT_TRUE(ParseInUseFileName(n, use, &r));
  EXPECT_EQ(r.topic, "t");
  EXPECT_EQ(r.first, 18446744073709551615ull);
  EXPECT_FALSE(ParseFinalFileName(n, use, &r));
}

TEST(FileNameTest, RejectsOtherFiles) {
  FileNaming n{"FlumeData", "", "", ".tmp"};
  FileRange r;
  for (const char* name :
       {"FlumeData.t+0+1+2", "Other.t+0+00000000000000000001+00000000000000000002",
        "FlumeData.+0+00000000000000000001+00000000000000000002",
        "FlumeData.t+x+00000000000000000001+00000000000000000002",
        "FlumeData.t+0+00000000000000000003+00000000000000000002",
        "FlumeData.t+0+0000000000000000000a+00000000000000000002",
        "FlumeData.t+0+00000000000000000001+00000000000000000002.tmp", "2026-11-23", "FlumeData"}) {
    EXPECT_FALSE(ParseFinalFileName(n, name, &r)) << name;
  }
  EXPECT_TRUE(ParseFinalFileName(n, "FlumeData.t+0+00000000000000000001+00000000000000000002", &r));
  EXPECT_TRUE(ParseInUseFileName(n, "FlumeData.t+0+00000000000000000001.tmp", &r));
  EXPECT_FALSE(ParseInUseFileName(n, "FlumeData.t+0+00000000000000000001", &r));
}

}  // namespace
}  // namespace txpipe::sinks::archive
