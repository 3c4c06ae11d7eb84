#include "base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace txpipe::base {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Status Twice(int x, int* out) {
  TXP_RETURN_IF_ERROR(Half(x).status());
  *out = Half(x).value() * 2;
  return Status::OK();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_EQ(Status::OK().ToString(), "OK");
  Status s = Status::NotFound("topic 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: topic 'x'");
  EXPECT_FALSE(s.retryable());
  EXPECT_TRUE(Status::Unavailable("influxdb down").retryable());
  EXPECT_TRUE(Status::ResourceExhausted("disk budget").retryable());
  EXPECT_EQ(Status::FromErrno("open f", ENOENT).ToString(),
            "IOError: open f: No such file or directory");
}

TEST(StatusTest, ResultCarriesValueOrError) {
  auto r = Half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "odd: 3");
  int out = 0;
  EXPECT_TRUE(Twice(4, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(Twice(5, &out).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace txpipe::base
