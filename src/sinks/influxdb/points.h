// PointEncoder: what an InfluxDB sink writes for each record of its topics
// (docs/influxdb.md, "Points"). Pure: no I/O.
//
// - `<topic>.windows` records -> measurement `<stream>_windows`, tags window,
//   dimension, value; fields count (integer) and every `fields.*` entry
//   (float; nulls left out); time = the window start. A re-emitted window
//   (late event, replay) has the same series and time: InfluxDB overwrites it.
// - alerts -> measurement `alerts`, tags rule, kind, severity, stream; string
//   fields id, key, message, values (JSON); time = the alert time in ms plus
//   a sub-millisecond part from the alert id, so two alerts of one rule in one
//   ms both stay, and a re-emitted alert overwrites itself.
// - raw events of a schema: per_event "lean" -> `finance_transactions`,
//   `car_transactions`, `<schema>_events` for others; tags = the schema's
//   enum dimensions, every other field a field. "seed" (finance) -> the seed
//   job's `finance_transaction_data`, tags transaction_id, account_id,
//   transaction_type, currency, branch; other schemas as "lean". Time = the
//   event time in ms, plus a sub-millisecond part from the event's place in
//   the log: (offset mod 15625) * 64 + (partition mod 64) ns. Two events with
//   the same tags and ms stay two points (unless 15,625 offsets apart in one
//   partition); a replayed event overwrites its own point.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "codec/records.h"
#include "core/schema.h"
#include "sinks/influxdb/options.h"

namespace txpipe::sinks::influxdb {

// Why a record was not written (dead-letter headers and metrics).
struct EncodeError {
  std::string reason;   // not_json, missing_field, ..., not_writable
  std::string message;  // one line
};

class PointEncoder {
 public:
  // Resolves what each topic of `options` holds; a raw topic needs a schema
  // (unless per_event = "off"): kInvalidArgument naming the topic otherwise.
  static base::Result<std::unique_ptr<PointEncoder>> Create(const InfluxOptions& options);
  ~PointEncoder();

  // Appends the line(s) of one record to `out` and returns how many (0 when
  // the topic's records are not written, e.g. per_event = "off"). False with
  // `error` filled (and nothing appended) when the record cannot be written.
  // Not thread-safe.
  bool Append(const std::string& topic, int partition, uint64_t offset, std::string_view body,
              std::string* out, int* lines, EncodeError* error);

  // The measurement a topic's records go to ("" for topics not written).
  std::string MeasurementOf(const std::string& topic) const;

 private:
  struct Topic;
  PointEncoder() = default;
  bool AppendWindow(std::string_view body, std::string* out, EncodeError* error);
  bool AppendAlert(std::string_view body, std::string* out, EncodeError* error);
  bool AppendRaw(Topic& t, int partition, uint64_t offset, std::string_view body,
                 std::string* out, EncodeError* error);

  std::map<std::string, std::unique_ptr<Topic>> topics_;
  codec::RecordParser records_;
};

}  // namespace txpipe::sinks::influxdb
