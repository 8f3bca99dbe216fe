// What the reconciler knows after a tick, for the status endpoint, metrics and notes. A plain copy:
// the API thread formats it without touching the loop's state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "runtime/container_runtime.h"

namespace shoal {

struct ContainerReport {
  std::string id;
  std::string name;
  std::string version;  // spec hash
  std::string state;
  std::string health;
  std::vector<PublishedPort> ports;
};

struct AppReport {
  std::string name;
  std::string phase;     // appPhaseName
  std::string version;   // the desired spec hash
  std::string image;
  std::string commit;    // the commit the running version comes from
  std::string health_check;
  int desired = 0;
  int ready = 0;
  int running = 0;
  std::string message;
  std::string build_error;    // the last lines of a failed build of this commit
  bool rolled_back = false;
  std::string failed_commit;  // the commit whose version failed
  std::string failed_reason;
  std::vector<ContainerReport> containers;
};

struct Report {
  std::string node_id;
  std::string node_name;
  TimePoint started{};
  TimePoint last_tick{};
  // The spec repo.
  std::string repo;
  std::string branch;
  std::string head;              // the last commit seen at the branch head
  std::string applied_commit;    // the commit whose spec is being run
  std::string refused_commit;    // the newest refused commit ("" once a later one is applied)
  std::vector<std::string> refused_errors;  // "apps/web.yaml:4:11: replicas: ..."
  std::string source_error;      // why the last poll failed ("" when it worked)
  TimePoint last_poll{};
  // The cluster.
  std::string cluster;
  int cluster_size = 1;
  bool cluster_settled = true;  // false while the node looks for its cluster: no step is taken
  int min_nodes = 1;
  std::string below_min;
  std::string activation;        // run | pause | stop | keep
  std::vector<AppReport> apps;
  bool converged = false;
  // Counters since start.
  int64_t ticks = 0;
  int64_t polls = 0;
  int64_t poll_errors = 0;
  int64_t builds_started = 0;
  int64_t steps_done = 0;
  int64_t steps_failed = 0;
  int64_t commits_refused = 0;
  int64_t rollbacks = 0;
  double last_plan_ms = 0;
  std::vector<std::string> last_errors;  // failed steps of the last tick
};

}  // namespace shoal
