// Component: a source, sink or processor as the runtime runs it. Start-up is
// two steps: the pipeline asks every component for Topics() and creates the
// missing ones, then calls Open() on each, one after the other in config
// order, and only then starts Run() of each on its own thread. Run() returns
// when `stop` is raised (after finishing cleanly: flushing, closing and
// renaming files, committing offsets) or on a fatal error. Everything it
// needs comes in the Context.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "io/env.h"
#include "runtime/broker.h"
#include "runtime/metrics.h"

namespace txpipe::runtime {

struct Context {
  Broker* broker = nullptr;
  Metrics* metrics = nullptr;
  base::Clock* clock = base::Clock::Real();
  io::Env* env = io::Env::Default();
  std::string data_dir;  // relative paths in component options are under it
  std::string name;      // the component's name in the config ("finance_files")
  // Producer settings from the [broker] section (compression); components
  // start their ProducerOptions from these.
  ProducerOptions producer;
  // Partitions of a topic the component has to create ([broker] partitions in
  // a pipeline, which creates every topic first: see Component::Topics).
  int topic_partitions = 1;

  // Fills what a test or a tool may leave unset, so components need no null
  // checks: metrics (a private registry, owned by `*own`), clock, env.
  void FillDefaults(std::unique_ptr<Metrics>* own) {
    if (!metrics) {
      *own = std::make_unique<Metrics>();
      metrics = own->get();
    }
    if (!clock) clock = base::Clock::Real();
    if (!env) env = io::Env::Default();
  }

  // `path` if absolute, else data_dir/path.
  std::string Resolve(const std::string& path) const {
    if (path.empty() || path[0] == '/' || data_dir.empty()) return path;
    return data_dir + "/" + path;
  }
};

// A topic a component reads or writes, and the partitions it needs if the
// topic must be created (0: whatever the pipeline creates topics with).
struct TopicUse {
  std::string name;
  int partitions = 0;
};

class Component {
 public:
  virtual ~Component() = default;
  // Every topic it reads or writes, its outputs and dead-letter topics
  // included. The pipeline creates the missing ones before any Open(), so
  // no two components race to create a topic.
  virtual std::vector<TopicUse> Topics() const = 0;
  // Gets ready to run: checks options, opens files and consumers, restores
  // state, creates topics it writes that are missing. An error here means
  // the component cannot start (the pipeline stops before running anything).
  // Run() calls it when it was not called; calling it twice is harmless.
  virtual base::Status Open() { return base::Status::OK(); }
  virtual base::Status Run(const base::StopFlag& stop) = 0;
};

}  // namespace txpipe::runtime
