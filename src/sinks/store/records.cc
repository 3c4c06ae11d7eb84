#include "sinks/store/records.h"

#include <utility>

namespace txpipe::sinks::store {

bool RecordParser::ParseWindow(std::string_view body, WindowRecord* out, RecordError* e) {
  codec::WindowRecord w;
  if (!parser_.ParseWindow(body, &w, e)) return false;
  WindowRecord r;
  r.row = {std::move(w.stream), std::move(w.window), w.window_ms,     w.start_ms,
           w.end_ms,            std::move(w.dimension), std::move(w.value), w.count,
           std::move(w.fields_json)};
  r.schema = std::move(w.schema);
  r.topic = std::move(w.topic);
  for (auto& [name, value] : w.fields) r.field_names.push_back(std::move(name));
  *out = std::move(r);
  return true;
}

bool RecordParser::ParseAlert(std::string_view body, AlertRow* out, RecordError* e) {
  codec::AlertRecord a;
  if (!parser_.ParseAlert(body, &a, e)) return false;
  *out = {std::move(a.id),     std::move(a.rule),   std::move(a.kind),
          std::move(a.severity), std::move(a.stream), a.time_ms,
          std::move(a.window), a.window_start_ms,   std::move(a.key),
          std::move(a.values_json), std::move(a.message)};
  return true;
}

}  // namespace txpipe::sinks::store
