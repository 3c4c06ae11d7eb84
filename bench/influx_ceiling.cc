// The ceiling of the InfluxDB sink's benchmark (bench/influx.sh): how fast
// influxd takes the very batches the sink would send, posted back to back by
// a plain client. Reads a topic of a txpipe log, encodes every event as the
// sink does (PointEncoder, lean), cuts 5,000-line batches and gzips them
// (both before the clock starts), then POSTs them one after the other over
// one kept-alive connection and prints points/s.
//
//   influx_ceiling --data-dir D --topic finance --url http://127.0.0.1:8086 --database ceiling
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "brokers/embedded/embedded_broker.h"
#include "io/http_client.h"
#include "sinks/influxdb/points.h"
#include "sinks/influxdb/writer.h"

namespace tx = txpipe;

int main(int argc, char** argv) {
  std::string data_dir, topic = "finance", url, database = "ceiling";
  size_t batch_lines = 5000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--data-dir") data_dir = v;
    else if (a == "--topic") topic = v;
    else if (a == "--url") url = v;
    else if (a == "--database") database = v;
    else if (a == "--batch-lines") batch_lines = std::stoul(v);
  }
  if (data_dir.empty() || url.empty()) {
    fmt::print(stderr, "usage: influx_ceiling --data-dir D --url URL [--topic T] [--database DB]\n");
    return 2;
  }
  tx::log::LogOptions lo;
  lo.read_only = true;
  auto broker = tx::brokers::embedded::EmbeddedBroker::Open(tx::io::Env::Default(),
                                                           data_dir + "/log", lo);
  if (!broker.ok()) {
    fmt::print(stderr, "{}\n", broker.status().ToString());
    return 1;
  }
  tx::sinks::influxdb::InfluxOptions o;
  o.topics = {topic};
  o.url = url;
  o.database = database;
  auto encoder = tx::sinks::influxdb::PointEncoder::Create(o);
  if (!encoder.ok()) {
    fmt::print(stderr, "{}\n", encoder.status().ToString());
    return 1;
  }
  // Encode and compress everything first: the clock measures influxd alone.
  std::vector<std::string> bodies;
  std::string batch, packed;
  size_t lines = 0, points = 0;
  auto consumer = (*broker)->NewConsumer("influx-ceiling", {topic}, {});
  if (!consumer.ok()) return 1;
  while (true) {
    auto n = (*consumer)->Poll(100, [&](const tx::runtime::Message& m) {
      int added = 0;
      tx::sinks::influxdb::EncodeError e;
      if ((*encoder)->Append(topic, m.tp->partition, m.offset, m.event.body, &batch, &added, &e)) {
        lines += added;
      }
      if (lines >= batch_lines) {
        if (!tx::sinks::influxdb::Gzip(batch, 1, &packed).ok()) std::abort();
        bodies.push_back(packed);
        points += lines;
        batch.clear();
        lines = 0;
      }
    });
    if (!n.ok() || *n == 0) break;
  }
  if (lines > 0) {
    if (!tx::sinks::influxdb::Gzip(batch, 1, &packed).ok()) return 1;
    bodies.push_back(packed);
    points += lines;
  }
  auto client = tx::io::HttpClient::Create();
  if (!client.ok()) return 1;
  const std::string base = url + "/write?db=" + database + "&precision=ns";
  (void)(*client)->Post(url + "/query?q=CREATE%20DATABASE%20%22" + database + "%22", "", {},
                        30'000);
  const tx::io::HttpHeaders headers = {{"Content-Type", "text/plain; charset=utf-8"},
                                       {"Content-Encoding", "gzip"}};
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& body : bodies) {
    auto r = (*client)->Post(base, body, headers, 60'000);
    if (!r.ok() || r->status != 204) {
      fmt::print(stderr, "influx_ceiling: {}\n",
                 r.ok() ? fmt::format("HTTP {}: {}", r->status, r->body) : r.status().ToString());
      return 1;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("points {} batches {} seconds {:.3f} points_per_s {:.0f}\n", points, bodies.size(), s,
             points / s);
  return 0;
}
