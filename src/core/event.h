// Event: what flows through topics (Flume's event). A body (one JSON object,
// the line as it came) plus string headers (source, file, timestamp, key,
// topic). Bodies are parsed once, in the processor, against a Schema.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace txpipe::core {

struct HeaderView {
  std::string_view key;
  std::string_view value;
};

// An event by reference: producers point it at their buffers; consumers get
// views into the broker's read buffer (valid until their next poll).
struct EventView {
  int64_t timestamp_ms = 0;               // when the event entered txpipe
  std::string_view key;                   // partitioning key; empty = none
  std::span<const HeaderView> headers;
  std::string_view body;

  // The value of header `name`, or empty.
  std::string_view header(std::string_view name) const {
    for (const auto& h : headers) {
      if (h.key == name) return h.value;
    }
    return {};
  }
};

// An event that owns its bytes.
struct Event {
  int64_t timestamp_ms = 0;
  std::string key;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

}  // namespace txpipe::core
