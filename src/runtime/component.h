// Component: a source, sink or processor as the runtime runs it. Each runs
// on its own thread: Run() returns when `stop` is raised (after finishing
// cleanly: flushing, closing and renaming files, committing offsets) or on a
// fatal error. Everything it needs comes in the Context.
#pragma once

#include <memory>
#include <string>

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

class Component {
 public:
  virtual ~Component() = default;
  virtual base::Status Run(const base::StopFlag& stop) = 0;
};

}  // namespace txpipe::runtime
