// The container engine, as shoal needs it. `DockerRuntime` speaks the Docker Engine API over its
// unix socket; `FakeRuntime` keeps containers in memory for unit tests and simulations.
//
// Implementations are safe for concurrent use by multiple threads (the loop thread, the event
// thread and the API's log requests share one).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

using Labels = std::map<std::string, std::string>;

struct PortBinding {
  int container_port = 0;
  std::string protocol = "tcp";
  std::string host_ip;    // "" = all interfaces
  std::string host_port;  // "8080", "8080-8089" (Docker picks a free one), "" = not published
  bool operator==(const PortBinding&) const = default;
};

struct VolumeMount {
  std::string volume;  // named volume (created by Docker on first use)
  std::string target;
  bool read_only = false;
  bool operator==(const VolumeMount&) const = default;
};

struct Healthcheck {
  std::vector<std::string> test;  // exec form, without the leading "CMD"
  Duration interval{2000};
  Duration timeout{2000};
  Duration start_period{0};
  int retries = 3;
  bool operator==(const Healthcheck&) const = default;
};

// Everything `create` needs. Built by `reconcile/` from an `AppSpec`.
struct ContainerConfig {
  std::string name;
  std::string image;
  std::vector<std::string> cmd;  // empty = the image's
  std::map<std::string, std::string> env;
  Labels labels;
  std::vector<PortBinding> ports;
  std::vector<VolumeMount> volumes;
  int64_t memory_bytes = 0;
  int64_t nano_cpus = 0;
  std::string restart_policy = "unless-stopped";
  std::optional<Healthcheck> health;
  bool init = true;  // docker-init as PID 1, so SIGTERM stops shells and busybox at once
  bool operator==(const ContainerConfig&) const = default;
};

enum class ContainerState { kCreated, kRunning, kPaused, kRestarting, kRemoving, kExited, kDead };
const char* containerStateName(ContainerState s);

enum class Health { kNone, kStarting, kHealthy, kUnhealthy };
const char* healthName(Health h);

struct PublishedPort {
  int container_port = 0;
  std::string protocol;
  std::string host_ip;
  int host_port = 0;
};

struct ContainerInfo {
  std::string id;
  std::string name;  // without Docker's leading '/'
  std::string image;
  Labels labels;
  ContainerState state = ContainerState::kCreated;
  Health health = Health::kNone;
  int exit_code = 0;
  TimePoint created{};
  TimePoint started{};  // zero if never started
  std::vector<PublishedPort> ports;  // filled by `inspect` and `list`
};

struct ContainerEvent {
  std::string id;
  std::string action;  // "create" "start" "die" "destroy" "pause" "health_status: healthy" ...
  Labels labels;
};

struct BuildRequest {
  std::string tag;         // "shoal/web:3f2a9c1b0d4e"
  std::string context_tar; // uncompressed tar of the context
  std::string dockerfile = "Dockerfile";
  std::map<std::string, std::string> build_args;
  // A requested stop cancels the build (a node shutting down doesn't wait for it): kUnavailable.
  std::stop_token stop;
};

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;

  // Every container (any state) carrying all of `labels`.
  virtual Result<std::vector<ContainerInfo>> list(const Labels& labels) = 0;
  virtual Result<ContainerInfo> inspect(const std::string& id_or_name) = 0;
  // Returns the new id; `kConflict` when a container of that name exists already.
  virtual Result<std::string> create(const ContainerConfig& config) = 0;
  virtual Status start(const std::string& id) = 0;
  // Stops with SIGTERM, then SIGKILL after `grace`. Stopping a stopped container is not an error.
  virtual Status stop(const std::string& id, Duration grace) = 0;
  virtual Status pause(const std::string& id) = 0;
  virtual Status unpause(const std::string& id) = 0;
  // Removes (with `force`, a running one too). Removing a missing container is `kNotFound`.
  virtual Status remove(const std::string& id, bool force) = 0;
  // The last `tail` lines of stdout and stderr, demultiplexed, as text.
  virtual Result<std::string> logs(const std::string& id, int tail) = 0;

  // Removes the named volume and its data. A volume that doesn't exist is not an error (the goal,
  // no volume, is met). One still used by a container (any state) is `kConflict`, and stays.
  virtual Status removeVolume(const std::string& name) = 0;

  virtual Result<bool> imageExists(const std::string& ref) = 0;
  // Builds and tags `req.tag`. Each line of build output goes to `progress` as it arrives. A failed
  // build is `kInvalid` whose message ends with the last lines of the output.
  virtual Result<std::string> build(const BuildRequest& req,
                                    const std::function<void(const std::string& line)>& progress) = 0;

  // Blocks, calling `on_event` for container events of containers carrying `labels`, until `stop`
  // is requested (then returns ok) or the stream breaks (returns the error; the caller reconnects).
  virtual Status watchEvents(const Labels& labels, const std::function<void(const ContainerEvent&)>& on_event,
                             std::stop_token stop) = 0;
};
using ContainerRuntimePtr = std::unique_ptr<ContainerRuntime>;

}  // namespace shoal
