// Test helpers of the store library: a temporary directory per test, and
// record bodies shaped like the processor's (docs/processor.md).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace txpipe::sinks::store::test_util {

// A fresh directory named after the running test, removed at destruction.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             fmt::format("txpipe_store_{}_{}_{}", getpid(), info->test_suite_name(), info->name()))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A window record as the analytics processor writes it.
inline std::string WindowRecordJson(const std::string& stream, const std::string& window,
                                    int64_t window_ms, int64_t start_ms,
                                    const std::string& dimension, const std::string& value,
                                    int64_t count, double amount_sum) {
  return fmt::format(
      R"({{"stream":"{}","schema":"finance","topic":"finance","window":"{}","window_ms":{},)"
      R"("start":"x","start_ms":{},"end_ms":{},"dimension":"{}","value":"{}","count":{},)"
      R"("fields":{{"amount_sum":{},"amount_avg":{},"failed_ratio":0.25}}}})",
      stream, window, window_ms, start_ms, start_ms + window_ms, dimension, value, count,
      amount_sum, count ? amount_sum / count : 0.0);
}

inline std::string AlertRecordJson(const std::string& id, int64_t time_ms) {
  return fmt::format(
      R"({{"id":"{}","rule":"big_online_payment","kind":"event","severity":"warning",)"
      R"("stream":"finance","time":"x","time_ms":{},"window":"","window_start_ms":0,)"
      R"("key":"T1","values":{{"amount":4950.5,"transaction_channel":"online"}},)"
      R"("message":"amount > 4900"}})",
      id, time_ms);
}

}  // namespace txpipe::sinks::store::test_util
