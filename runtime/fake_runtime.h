// `ContainerRuntime` in memory, for unit tests and simulations. Deterministic: ids come from a
// counter, timestamps from the injected `Clock`, and nothing happens unless a call or a knob makes
// it happen (no health probes, no restart policy: tests drive them with the `...ForTest` knobs).
// Errors use Docker's codes and wording. Safe for concurrent use by multiple threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/container_runtime.h"

namespace shoal {

class FakeRuntime : public ContainerRuntime {
 public:
  explicit FakeRuntime(Clock& clock);

  Result<std::vector<ContainerInfo>> list(const Labels& labels) override;
  Result<ContainerInfo> inspect(const std::string& id_or_name) override;
  Result<std::string> create(const ContainerConfig& config) override;
  Status start(const std::string& id) override;
  Status stop(const std::string& id, Duration grace) override;
  Status pause(const std::string& id) override;
  Status unpause(const std::string& id) override;
  Status remove(const std::string& id, bool force) override;
  Result<std::string> logs(const std::string& id, int tail) override;
  Status removeVolume(const std::string& name) override;
  Result<bool> imageExists(const std::string& ref) override;
  Result<std::string> build(const BuildRequest& req,
                            const std::function<void(const std::string& line)>& progress) override;
  Status watchEvents(const Labels& labels, const std::function<void(const ContainerEvent&)>& on_event,
                     std::stop_token stop) override;

  // `runtime: sim` (node.yaml): health checks answer by themselves. A running container with a
  // check turns healthy once it has run for the check's interval plus the duration in its env
  // SHOAL_SIM_HEALTHY_AFTER (none: 0), seen at the next list or inspect. Off: only the knobs do.
  void simulateHealthChecks(bool on);

  // --- knobs; `op` is a method name: "list" "inspect" "create" "start" "stop" "pause" "unpause"
  // "remove" "logs" "removeVolume" "imageExists" "build" "watchEvents".
  // The next call of `op` fails with `error` (queued: several calls fail in turn).
  void failNextForTest(const std::string& op, Error error);
  int callsForTest(const std::string& op) const;
  // Emits "health_status: <h>" when it changes.
  void setHealthForTest(const std::string& id, Health health);
  // A running container dies with `code` (a crash, an OOM kill: 137).
  void exitForTest(const std::string& id, int code);
  // Someone ran `docker rm -f`.
  void removeForTest(const std::string& id);
  void addImageForTest(const std::string& ref);
  void removeImageForTest(const std::string& ref);
  // The next builds of `tag` print `output` (lines) and fail.
  void setBuildFailureForTest(const std::string& tag, const std::string& output);
  // Text the container "printed"; `logs` returns its last lines.
  void appendLogForTest(const std::string& id, const std::string& text);
  // Active `watchEvents` callers make the stream break: each returns `error`.
  void breakEventsForTest(Error error);
  int watchersForTest() const;
  // The config a container was created with; nullopt if none.
  std::optional<ContainerConfig> configForTest(const std::string& id_or_name) const;
  std::vector<ContainerInfo> allForTest() const;
  // Named volumes that exist: made by the first `create` that mounts them, gone on `removeVolume`.
  std::set<std::string> volumesForTest() const;

 private:
  struct Container {
    ContainerInfo info;
    ContainerConfig config;
    std::string log;
    uint64_t seq = 0;
  };
  struct Watcher {
    Labels labels;
    std::deque<ContainerEvent> queue;
    std::optional<Error> broken;
  };

  Status takeCall(const std::string& op);  // REQUIRES(mu_)
  Container* find(const std::string& id_or_name);  // REQUIRES(mu_)
  const Container* find(const std::string& id_or_name) const;
  void emit(const Container& c, const std::string& action);  // REQUIRES(mu_)
  void assignPorts(Container& c);  // REQUIRES(mu_)
  void markExited(Container& c, int code);  // REQUIRES(mu_)
  bool hostPortTaken(int port, const std::string& proto) const;  // REQUIRES(mu_)
  void runHealthChecks();  // REQUIRES(mu_)

  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;  // waits on a stop_token too
  uint64_t next_seq_ = 1;                                 // GUARDED_BY(mu_)
  bool simulate_health_ = false;                          // GUARDED_BY(mu_)
  std::map<std::string, Container> containers_;          // GUARDED_BY(mu_) by id
  std::set<std::string> images_;                          // GUARDED_BY(mu_)
  std::set<std::string> volumes_;                         // GUARDED_BY(mu_)
  std::map<std::string, std::string> build_failures_;     // GUARDED_BY(mu_)
  std::map<std::string, std::deque<Error>> fail_next_;    // GUARDED_BY(mu_)
  std::map<std::string, int> calls_;                      // GUARDED_BY(mu_)
  std::set<Watcher*> watchers_;                           // GUARDED_BY(mu_)
};

}  // namespace shoal
