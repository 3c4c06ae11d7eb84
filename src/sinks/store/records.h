// RecordParser: the processor's window and alert records (docs/processor.md)
// -> store rows, over codec::RecordParser (which the InfluxDB sink shares).
// Pure: no I/O. A record that cannot be stored gets a reason code (the
// `reason` label of txpipe_store_rejected_total) and a message.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/records.h"
#include "sinks/store/store_db.h"

namespace txpipe::sinks::store {

using codec::RecordError;

struct WindowRecord {
  WindowRow row;
  std::string schema;                    // "" when absent
  std::string topic;                     // the raw input topic; "" when absent
  std::vector<std::string> field_names;  // keys of `fields`, in record order
};

// Not thread-safe: one per thread.
class RecordParser {
 public:
  // What codec::RecordParser requires of each record (codec/records.h).
  bool ParseWindow(std::string_view body, WindowRecord* out, RecordError* error);
  bool ParseAlert(std::string_view body, AlertRow* out, RecordError* error);

 private:
  codec::RecordParser parser_;
};

}  // namespace txpipe::sinks::store
