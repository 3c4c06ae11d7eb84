// Status and Result<T>: how txpipe reports errors across library boundaries.
//
// A Status is either OK or carries a code and a message meant for a person
// ("schema finance.toml: field 'amount': unknown type 'flaot'"). Functions that
// can fail return [[nodiscard]] Status or Result<T>; exceptions never cross a
// library boundary.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace txpipe::base {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // bad input from a user: a flag, a config key, an event
  kNotFound,           // a file, topic or key that does not exist
  kAlreadyExists,      // a name that is taken
  kCorruption,         // stored bytes that fail a check
  kIOError,            // the OS said no
  kUnavailable,        // a peer is down; retryable
  kResourceExhausted,  // over a limit (disk budget, queue); retryable later
  kNotSupported,       // a feature this build or this version lacks
  kInternal,           // a bug
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  // An IOError built from errno: "<context>: <strerror(err)>".
  static Status FromErrno(std::string_view context, int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when trying the same thing again later may succeed.
  bool retryable() const { return code_ == Code::kUnavailable || code_ == Code::kResourceExhausted; }
  // "IOError: open foo: No such file or directory", or "OK".
  std::string ToString() const;

  // Ignores a status on purpose (best-effort cleanup paths).
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or an error Status. Result<T> r = T{...}; or r = Status::NotFound(...).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace txpipe::base

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define TXP_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::txpipe::base::Status _st = (expr);       \
    if (!_st.ok()) return _st;                 \
  } while (0)
