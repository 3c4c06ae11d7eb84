#include "io/env.h"
#include "io/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace txpipe::io {
namespace {

namespace fs = std::filesystem;

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("txpipe_env_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    ASSERT_TRUE(env_->CreateDirs(dir_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  Env* env_ = Env::Default();
  fs::path dir_;
};

TEST_F(EnvTest, WriteReadAppendTruncate) {
  auto w = env_->NewWritableFile(P("a"), OpenMode::kCreateNew);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("hello ").ok());
  ASSERT_TRUE((*w)->Append("world").ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_EQ((*w)->size(), 11u);
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_EQ(env_->NewWritableFile(P("a"), OpenMode::kCreateNew).status().code(),
            base::Code::kAlreadyExists);
  auto a = env_->NewWritableFile(P("a"), OpenMode::kAppend);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->size(), 11u);
  ASSERT_TRUE((*a)->Append("!").ok());
  EXPECT_EQ(*ReadFileToString(env_, P("a")), "hello world!");
  auto r = env_->NewRandomAccessFile(P("a"));
  ASSERT_TRUE(r.ok());
  char buf[16];
  std::string_view got;
  ASSERT_TRUE((*r)->Read(6, 16, buf, &got).ok());
  EXPECT_EQ(got, "world!");
  ASSERT_TRUE(env_->Truncate(P("a"), 5).ok());
  EXPECT_EQ(*env_->FileSize(P("a")), 5u);
  EXPECT_EQ(env_->NewRandomAccessFile(P("missing")).status().code(), base::Code::kNotFound);
}

TEST_F(EnvTest, ListRenameRemove) {
  ASSERT_TRUE(WriteFileAtomically(env_, P("b"), "2").ok());
  ASSERT_TRUE(WriteFileAtomically(env_, P("a"), "1").ok());
  EXPECT_THAT(*env_->ListDir(dir_), ::testing::ElementsAre("a", "b"));  // no .tmp left
  EXPECT_EQ(env_->RenameNoReplace(P("a"), P("b")).code(), base::Code::kAlreadyExists);
  ASSERT_TRUE(env_->Rename(P("a"), P("b")).ok());
  EXPECT_EQ(*ReadFileToString(env_, P("b")), "1");
  ASSERT_TRUE(env_->RemoveFile(P("b")).ok());
  EXPECT_TRUE(env_->ListDir(dir_)->empty());
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
}

TEST_F(EnvTest, LockFileIsExclusiveAcrossProcessesAndNamesTheHolder) {
  auto lock = env_->LockFile(P("LOCK"), "pid 12345");
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  pid_t child = fork();
  if (child == 0) {
    auto second = Env::Default()->LockFile(P("LOCK"), "child");
    bool ok = !second.ok() && second.status().code() == base::Code::kUnavailable &&
              second.status().message().find("locked by pid 12345") != std::string::npos;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  lock->reset();  // released: another taker succeeds
  EXPECT_TRUE(env_->LockFile(P("LOCK"), "again").ok());
}

}  // namespace
TEST(ProcessStatsTest, ReadsThisProcess) {
  std::vector<char> touched(32 << 20, 1);  // 32 MiB resident
  ProcessStats st = ReadProcessStats();
  EXPECT_GE(st.resident_bytes, touched.size());
  EXPECT_GE(st.virtual_bytes, st.resident_bytes);
  EXPECT_GE(st.threads, 1);
  EXPECT_GE(st.open_fds, 3);  // stdin, stdout, stderr
  EXPECT_GE(st.cpu_seconds, 0);
  EXPECT_NEAR(static_cast<double>(st.start_time_seconds), static_cast<double>(time(nullptr)), 600);
}

}  // namespace txpipe::io
