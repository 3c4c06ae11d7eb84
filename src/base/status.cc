#include "base/status.h"

#include <cstring>

namespace txpipe::base {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kUnavailable: return "Unavailable";
    case Code::kResourceExhausted: return "ResourceExhausted";
    case Code::kNotSupported: return "NotSupported";
    case Code::kInternal: return "Internal";
  }
  return "Unknown";
}

Status Status::FromErrno(std::string_view context, int err) {
  std::string m(context);
  m += ": ";
  m += std::strerror(err);
  return Status(Code::kIOError, std::move(m));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

}  // namespace txpipe::base
