#include "sinks/archive/encoder.h"

#include <gtest/gtest.h>

#include <string>

#include "sinks/archive/testing_util.h"

namespace txpipe::sinks::archive {
namespace {

std::string Lines(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "{\"transaction_id\": \"T" + std::to_string(i) + "\", \"amount\": 12.5}\n";
  return s;
}

std::string Encode(const std::string& codec, const std::string& data, int pieces) {
  auto e = NewEncoder(codec, 0);
  EXPECT_TRUE(e.ok());
  std::string out;
  size_t step = data.size() / pieces + 1;
  for (size_t i = 0; i < data.size(); i += step) {
    EXPECT_TRUE((*e)->Write(std::string_view(data).substr(i, step), &out).ok());
  }
  EXPECT_TRUE((*e)->Finish(&out).ok());
  return out;
}

std::string Gunzip(const std::string& in) {
  std::string out;
  EXPECT_TRUE(test_util::Gunzip(in, &out));
  return out;
}

std::string Unzstd(const std::string& in) {
  std::string out;
  EXPECT_TRUE(test_util::Unzstd(in, &out));
  return out;
}

TEST(EncoderTest, NonePassesBytesThrough) {
  std::string data = Lines(100);
  EXPECT_EQ(Encode("none", data, 7), data);
}

TEST(EncoderTest, GzipRoundTripsAndCompresses) {
  std::string data = Lines(20'000);
  std::string gz = Encode("gzip", data, 13);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size(), data.size() / 4);
  EXPECT_EQ(Gunzip(gz), data);
  EXPECT_EQ(Gunzip(Encode("gzip", "", 1)), "");
  EXPECT_EQ(Gunzip(gz + Encode("gzip", "tail\n", 1)), data + "tail\n");  // members concatenate
}

TEST(EncoderTest, ZstdRoundTripsAndCompresses) {
  std::string data = Lines(20'000);
  std::string z = Encode("zstd", data, 13);
  EXPECT_LT(z.size(), data.size() / 4);
  EXPECT_EQ(Unzstd(z), data);
  EXPECT_EQ(Unzstd(z + Encode("zstd", "tail\n", 1)), data + "tail\n");
}

TEST(EncoderTest, RejectsBadCodecAndLevel) {
  EXPECT_FALSE(NewEncoder("lzo", 0).ok());
  EXPECT_FALSE(NewEncoder("gzip", 10).ok());
  EXPECT_FALSE(NewEncoder("zstd", 99).ok());
  EXPECT_TRUE(NewEncoder("zstd", 19).ok());
}

}  // namespace
}  // namespace txpipe::sinks::archive
