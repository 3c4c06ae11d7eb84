// Writer: POSTs line protocol to one InfluxDB write API (v1 /write or v2
// /api/v2/write), gzip-compressed, over one kept-alive connection, and says
// what the answer means for the lines sent (sinks/common's classification,
// plus what InfluxDB's 400 and 413 mean). Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "io/env.h"
#include "io/http_client.h"
#include "sinks/influxdb/options.h"

namespace txpipe::sinks::influxdb {

// Secrets, read from the environment or a file when the sink opens; never
// logged.
struct Credentials {
  std::string token;     // "Authorization: Token <token>"
  std::string username;  // HTTP Basic auth (v1)
  std::string password;
};

// Reads the token (token_env or token_file) and the v1 password
// (password_env). kInvalidArgument naming the variable or file (not its
// content) when it is unset, empty or unreadable.
base::Result<Credentials> LoadCredentials(const InfluxOptions& options, io::Env* env);

struct WriteOutcome {
  enum class Kind {
    kWritten,     // 2xx: every line is stored
    kRetry,       // 408, 429, 5xx but 501, or no answer: send the same again later
    kBadLines,    // 400: some line(s) refused (the others may be written)
    kTooLarge,    // 413: send less at once
    kStopped,     // 401, 403: the credentials are refused; nothing will be written
    kFailed,      // anything else (404 database not found, 501, ...)
  };
  Kind kind = Kind::kWritten;
  int status = 0;                         // HTTP status, 0 when none came
  std::string message;                    // the server's error, or the transport's
  std::optional<int64_t> retry_after_ms;  // from Retry-After
};

class Writer {
 public:
  static base::Result<std::unique_ptr<Writer>> Create(const InfluxOptions& options,
                                                      Credentials credentials,
                                                      base::Clock* clock);
  ~Writer();

  // Writes `lines` (whole lines, each ending in '\n'). `cancel` aborts a
  // request in flight (kRetry then). `gzipped`, when not empty, is `lines`
  // compressed already (Gzip, level 1), sent as it is when gzip is on.
  WriteOutcome Write(std::string_view lines, const base::StopFlag* cancel,
                     std::string_view gzipped = {});
  // v1: CREATE DATABASE (idempotent in InfluxDB).
  WriteOutcome CreateDatabase(const base::StopFlag* cancel);
  // The write URL without secrets (for logs).
  const std::string& shown_url() const { return shown_url_; }
  // Bytes of the last request body sent (after compression).
  size_t last_body_bytes() const { return last_body_bytes_; }

 private:
  Writer() = default;
  WriteOutcome Post(const std::string& url, std::string_view body, bool compress,
                    const base::StopFlag* cancel, std::string_view gzipped = {});

  InfluxOptions options_;
  base::Clock* clock_ = nullptr;
  std::unique_ptr<io::HttpClient> http_;
  std::string write_url_;
  std::string query_url_;
  std::string shown_url_;
  io::HttpHeaders headers_;
  std::string gzip_buf_;
  size_t last_body_bytes_ = 0;
};

// Gzip of `in` into `out` (replaced). Pure.
base::Status Gzip(std::string_view in, int level, std::string* out);

}  // namespace txpipe::sinks::influxdb
