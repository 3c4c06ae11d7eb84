#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace txpipe::base::crc32c {
uint32_t ExtendPortableForTest(uint32_t crc, const void* data, size_t n);
namespace {

TEST(Crc32cTest, KnownValues) {
  // RFC 3720 (iSCSI) appendix B.4 and the common check value.
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, 0), dec(32, 0);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Value(zeros), 0x8a9136aau);
  EXPECT_EQ(Value(ones), 0x62a8ab43u);
  EXPECT_EQ(Value(inc), 0x46dd794eu);
  EXPECT_EQ(Value(dec), 0x113fdb5cu);
  EXPECT_EQ(Value(""), 0u);
}

TEST(Crc32cTest, ExtendEqualsWholeAndBothPathsAgree) {
  std::mt19937_64 rng(1);
  std::string data(10'000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 10'000}) {
    uint32_t whole = Value(data.data(), n);
    EXPECT_EQ(ExtendPortableForTest(0, data.data(), n), whole) << n;
    for (size_t split : {size_t{0}, n / 3, n / 2, n}) {
      EXPECT_EQ(Extend(Value(data.data(), split), data.data() + split, n - split), whole);
    }
  }
}

TEST(Crc32cTest, MaskRoundTripsAndChangesTheValue) {
  uint32_t crc = Value("foo");
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
}

}  // namespace
}  // namespace txpipe::base::crc32c
