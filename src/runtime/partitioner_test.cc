#include <gtest/gtest.h>

#include "runtime/broker.h"

namespace txpipe::runtime {
namespace {

// Values from Kafka's DefaultPartitionerTest / Utils.murmur2 tests: the same
// key lands in the same partition as with Java producers and librdkafka's
// murmur2 partitioner.
TEST(PartitionerTest, MatchesKafkaMurmur2) {
  // murmur2(key) & 0x7fffffff as computed by kafka-python (Debian python3-kafka).
  constexpr int kMax = INT32_MAX;
  EXPECT_EQ(PartitionForKey("21", kMax), 1173551340);
  EXPECT_EQ(PartitionForKey("", kMax), 275646681);
  EXPECT_EQ(PartitionForKey("A100000", kMax), 897967290);
  EXPECT_EQ(PartitionForKey("account-42", kMax), 201584324);
  EXPECT_EQ(PartitionForKey("foobar", kMax), 1357151166);
  EXPECT_EQ(PartitionForKey("foobar", 2), 1357151166 % 2);
  int counts[4] = {};
  for (int i = 0; i < 4000; ++i) ++counts[PartitionForKey("A" + std::to_string(100000 + i), 4)];
  for (int c : counts) EXPECT_NEAR(c, 1000, 150);
}

}  // namespace
}  // namespace txpipe::runtime
