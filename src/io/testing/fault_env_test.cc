#include "io/testing/fault_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace txpipe::io {
namespace {

namespace fs = std::filesystem;

class FaultEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("txpipe_fault_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
  FaultEnv env_;
};

TEST_F(FaultEnvTest, CrashKeepsOnlySyncedBytes) {
  auto f = env_.NewWritableFile(P("a"), OpenMode::kTruncate);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("durable").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append(" lost").ok());
  f->reset();
  ASSERT_TRUE(env_.Crash().ok());
  EXPECT_EQ(*ReadFileToString(&env_, P("a")), "durable");
}

TEST_F(FaultEnvTest, TornCrashKeepsAPrefixOfUnsyncedBytes) {
  bool saw_partial = false;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto f = env_.NewWritableFile(P("t"), OpenMode::kTruncate);
    ASSERT_TRUE((*f)->Append("0123").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Append("456789").ok());
    f->reset();
    ASSERT_TRUE(env_.Crash(/*torn=*/true, seed).ok());
    std::string got = *ReadFileToString(&env_, P("t"));
    ASSERT_GE(got.size(), 4u);
    EXPECT_EQ(got, std::string("0123456789").substr(0, got.size()));
    saw_partial |= got.size() > 4 && got.size() < 10;
  }
  EXPECT_TRUE(saw_partial);
}

TEST_F(FaultEnvTest, WriteBudgetFailsThePartialWriteAndAfter) {
  env_.FailWritesAfter(5);
  auto f = env_.NewWritableFile(P("b"), OpenMode::kTruncate);
  ASSERT_TRUE((*f)->Append("abc").ok());
  EXPECT_FALSE((*f)->Append("defgh").ok());  // "de" written
  EXPECT_FALSE((*f)->Append("x").ok());
  EXPECT_EQ(*ReadFileToString(&env_, P("b")), "abcde");
  env_.FailSyncs(true);
  EXPECT_FALSE((*f)->Sync().ok());
}

TEST_F(FaultEnvTest, RenameCarriesTrackingAndExistingContentIsDurable) {
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), P("old"), "before").ok());
  auto f = env_.NewWritableFile(P("old"), OpenMode::kAppend);
  ASSERT_TRUE((*f)->Append(" after").ok());
  f->reset();
  ASSERT_TRUE(env_.Rename(P("old"), P("new")).ok());
  ASSERT_TRUE(env_.Crash().ok());
  EXPECT_EQ(*ReadFileToString(&env_, P("new")), "before");
}

}  // namespace
}  // namespace txpipe::io
