// txpipe topic list|describe|tail|produce|offsets: inspect and feed the
// embedded log (kafka-topics, kafka-console-consumer/producer,
// kafka-consumer-groups). Reading commands open the log read-only, so they
// work while a pipeline runs on the same data dir.
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "brokers/embedded/embedded_broker.h"
#include "codec/json_writer.h"

namespace txpipe::app {

namespace {

struct TopicFlags {
  std::string data_dir = "txpipe-data";
  std::string log_dir = "log";
  std::string topic;
  std::string partitions = "2";
  std::string from = "0";
  std::string count = "10";
  std::string partition = "-1";
  std::string key_field;
  std::string group;
  bool from_end = false;
  bool json = false;
};

std::string LogDir(const TopicFlags& f) {
  return f.log_dir.starts_with("/") ? f.log_dir : f.data_dir + "/" + f.log_dir;
}

base::Result<std::unique_ptr<brokers::embedded::EmbeddedBroker>> OpenBroker(const TopicFlags& f,
                                                                            bool read_only) {
  log::LogOptions o;
  o.read_only = read_only;
  return brokers::embedded::EmbeddedBroker::Open(io::Env::Default(), LogDir(f), o);
}

int Fail(std::string_view cmd, const base::Status& s) {
  fmt::print(stderr, "txpipe topic {}: {}\n", cmd, s.message());
  return s.code() == base::Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

int List(const TopicFlags& f) {
  auto b = OpenBroker(f, true);
  if (!b.ok()) return Fail("list", b.status());
  for (const auto& t : (*b)->Topics()) {
    auto info = (*b)->Describe(t);
    uint64_t events = 0, bytes = 0;
    for (const auto& p : info->partitions) {
      events += p.end_offset - p.start_offset;
      bytes += p.size_bytes;
    }
    fmt::print("{:<32} partitions {:>3}  events {:>14}  bytes {:>14}\n", t, info->partitions.size(),
               Thousands(events), Thousands(bytes));
  }
  return kExitOk;
}

int Describe(const TopicFlags& f) {
  auto b = OpenBroker(f, true);
  if (!b.ok()) return Fail("describe", b.status());
  auto info = (*b)->Describe(f.topic);
  if (!info.ok()) return Fail("describe", info.status());
  fmt::print("topic {}\n{:>9} {:>16} {:>16} {:>16}\n", f.topic, "partition", "start offset",
             "end offset", "bytes");
  for (const auto& p : info->partitions) {
    fmt::print("{:>9} {:>16} {:>16} {:>16}\n", p.partition, p.start_offset, p.end_offset,
               p.size_bytes);
  }
  return kExitOk;
}

int Offsets(const TopicFlags& f) {
  auto b = OpenBroker(f, true);
  if (!b.ok()) return Fail("offsets", b.status());
  std::vector<std::string> groups = f.group.empty() ? (*b)->Groups()
                                                    : std::vector<std::string>{f.group};
  fmt::print("{:<24} {:<28} {:>9} {:>14} {:>14} {:>10}\n", "group", "topic", "partition",
             "committed", "end", "lag");
  for (const auto& g : groups) {
    for (const auto& [tp, off] : (*b)->GroupOffsets(g)) {
      auto info = (*b)->Describe(tp.topic);
      uint64_t end = 0;
      if (info.ok() && tp.partition < static_cast<int>(info->partitions.size())) {
        end = info->partitions[tp.partition].end_offset;
      }
      fmt::print("{:<24} {:<28} {:>9} {:>14} {:>14} {:>10}\n", g, tp.topic, tp.partition, off, end,
                 end > off ? end - off : 0);
    }
  }
  return kExitOk;
}

int Tail(const TopicFlags& f) {
  auto b = OpenBroker(f, true);
  if (!b.ok()) return Fail("tail", b.status());
  auto info = (*b)->Describe(f.topic);
  if (!info.ok()) return Fail("tail", info.status());
  int only = std::stoi(f.partition);
  uint64_t count = ParseUint(f.count);
  uint64_t printed = 0;
  for (const auto& p : info->partitions) {
    if (only >= 0 && p.partition != only) continue;
    runtime::ConsumerOptions co;
    co.partitions = {p.partition};
    auto c = (*b)->NewConsumer("txpipe-topic-tail", {f.topic}, co);
    if (!c.ok()) return Fail("tail", c.status());
    uint64_t from = f.from_end ? (p.end_offset > count ? p.end_offset - count : 0)
                               : std::max<uint64_t>(ParseUint(f.from), p.start_offset);
    (void)(*c)->Seek({f.topic, p.partition}, from);
    uint64_t left = count;
    while (left > 0 && (*c)->position({f.topic, p.partition}) < p.end_offset) {
      auto n = (*c)->Poll(0, [&](const runtime::Message& m) {
        if (left == 0) return;
        --left;
        ++printed;
        std::string line;
        if (f.json) {
          // kcat -J's shape: the record's metadata and its body as a string.
          line = fmt::format("{{\"topic\":");
          codec::AppendJsonString(&line, f.topic);
          fmt::format_to(std::back_inserter(line), ",\"partition\":{},\"offset\":{},\"timestamp_ms\":{},\"key\":",
                         p.partition, m.offset, m.event.timestamp_ms);
          codec::AppendJsonString(&line, m.event.key);
          line += ",\"headers\":{";
          for (size_t i = 0; i < m.event.headers.size(); ++i) {
            if (i) line += ',';
            codec::AppendJsonString(&line, m.event.headers[i].key);
            line += ':';
            codec::AppendJsonString(&line, m.event.headers[i].value);
          }
          line += "},\"body\":";
          codec::AppendJsonString(&line, m.event.body);
          line += '}';
        } else {
          line = std::string(m.event.body);
        }
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stdout);
      });
      if (!n.ok()) return Fail("tail", n.status());
      if (*n == 0) break;
    }
  }
  std::fflush(stdout);
  if (isatty(STDERR_FILENO)) fmt::print(stderr, "{} events\n", Thousands(printed));
  return kExitOk;
}

int Produce(const TopicFlags& f) {
  auto b = OpenBroker(f, false);
  if (!b.ok()) return Fail("produce", b.status());
  // An existing topic keeps its partition count.
  base::Status s = (*b)->CreateTopic(f.topic, static_cast<int>(ParseUint(f.partitions)));
  if (!s.ok()) return Fail("produce", s);
  auto p = (*b)->NewProducer(f.topic, {});
  if (!p.ok()) return Fail("produce", p.status());
  std::string line;
  uint64_t n = 0;
  std::string key_pat = f.key_field.empty() ? "" : "\"" + f.key_field + "\": \"";
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::string_view key;
    if (!key_pat.empty()) {
      size_t at = line.find(key_pat);
      if (at != std::string::npos) {
        size_t from = at + key_pat.size(), to = line.find('"', from);
        if (to != std::string::npos) key = std::string_view(line).substr(from, to - from);
      }
    }
    core::HeaderView h{"source", "txpipe-topic-produce"};
    s = (*p)->Add({base::Clock::Real()->NowMicros() / 1000, key, std::span(&h, 1), line});
    if (!s.ok()) return Fail("produce", s);
    if (++n % 10000 == 0) {
      s = (*p)->Flush();
      if (!s.ok()) return Fail("produce", s);
    }
  }
  s = (*p)->Flush();
  if (!s.ok()) return Fail("produce", s);
  fmt::print(stderr, "produced {} events to {}\n", Thousands(n), f.topic);
  return kExitOk;
}

}  // namespace

Command AddTopic(CLI::App& app) {
  auto f = std::make_shared<TopicFlags>();
  Command c;
  CLI::App* cmd = app.add_subcommand("topic", "List, describe, read and feed topics of the embedded log");
  cmd->require_subcommand(1);
  auto common = [f](CLI::App* s) {
    s->add_option("--data-dir", f->data_dir, "The pipeline's data_dir")->default_str("txpipe-data");
    s->add_option("--log-dir", f->log_dir, "The log directory, under data_dir ([broker] dir)")
        ->default_str("log");
  };
  std::vector<std::pair<CLI::App*, std::function<int()>>> subs;
  CLI::App* list = cmd->add_subcommand("list", "Topics with their events and bytes");
  common(list);
  subs.emplace_back(list, [f] { return List(*f); });
  CLI::App* describe = cmd->add_subcommand("describe", "Partitions of a topic with their offsets");
  common(describe);
  describe->add_option("topic", f->topic, "Topic")->required();
  subs.emplace_back(describe, [f] { return Describe(*f); });
  CLI::App* tail = cmd->add_subcommand("tail", "Print event bodies of a topic");
  common(tail);
  tail->add_option("topic", f->topic, "Topic")->required();
  tail->add_option("--from", f->from, "First offset (per partition)")->check(NonNegativeInteger());
  tail->add_flag("--last", f->from_end, "The last --count events of each partition");
  tail->add_option("--count", f->count, "Events per partition")->default_str("10")->check(NonNegativeInteger());
  tail->add_option("--partition", f->partition, "Only this partition");
  tail->add_flag("--json", f->json,
                 "One JSON object per event: topic, partition, offset, timestamp_ms, key, "
                 "headers and the body as a string");
  subs.emplace_back(tail, [f] { return Tail(*f); });
  CLI::App* produce = cmd->add_subcommand("produce", "Append lines of standard input as events");
  common(produce);
  produce->add_option("topic", f->topic, "Topic (created if missing)")->required();
  produce->add_option("--partitions", f->partitions, "Partitions if the topic is created")
      ->default_str("2")->check(NonNegativeInteger());
  produce->add_option("--key-field", f->key_field, "JSON string field to use as the key");
  subs.emplace_back(produce, [f] { return Produce(*f); });
  CLI::App* offsets = cmd->add_subcommand("offsets", "Committed offsets and lag of consumer groups");
  common(offsets);
  offsets->add_option("--group", f->group, "Only this group");
  subs.emplace_back(offsets, [f] { return Offsets(*f); });
  c.cli = cmd;
  c.run = [subs]() -> int {
    for (const auto& [s, run] : subs) {
      if (s->parsed()) return run();
    }
    return kExitUsage;
  };
  return c;
}

}  // namespace txpipe::app
