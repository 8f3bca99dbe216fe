// The spec: what `cluster.yaml` and `apps/*.yaml` at one commit ask for, after validation.
//
// Only `schemas/` builds these, and only from files that passed validation, so every field holds a
// checked value with its default applied. The JSON Schema files beside this header
// (`cluster.schema.json`, `app.schema.json`) describe the same keys for editors.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace shoal {

// What happens to apps while the cluster has fewer than `min_nodes` nodes.
enum class BelowMin { kPause, kStop, kKeep };
const char* belowMinName(BelowMin b);

// Which nodes run an app's replicas. `kOrigin`: `replicas` containers on the cluster's origin node
// (a standalone node is its own origin). `kEveryNode`: `replicas` containers on every member node.
enum class Placement { kOrigin, kEveryNode };
const char* placementName(Placement p);  // "origin", "every-node"
std::optional<Placement> placementFromName(std::string_view name);

struct ClusterSpec {
  std::string name = "shoal";
  int min_nodes = 1;
  BelowMin below_min = BelowMin::kPause;
};

struct PortSpec {
  int container = 0;
  // Host ports: a single port (host_from == host_to), a range Docker picks a free port from
  // (so several replicas can publish one container port), or none (0, 0).
  int host_from = 0;
  int host_to = 0;
  std::string protocol = "tcp";         // tcp | udp
  std::string host_ip = "0.0.0.0";
  bool operator==(const PortSpec&) const = default;
};

struct VolumeSpec {
  std::string name;    // a Docker named volume, created on first use
  std::string target;  // absolute path in the container
  bool read_only = false;
  bool operator==(const VolumeSpec&) const = default;
};

// Run by Docker inside the container (`HEALTHCHECK`): exit 0 = healthy.
struct HealthSpec {
  std::vector<std::string> cmd;       // exec form; `http:` is turned into a busybox-wget probe
  std::string description;            // what status shows: "GET http://127.0.0.1:80/" or the cmd
  Duration interval{2000};
  Duration timeout{2000};
  int retries = 3;
  Duration start_period{0};
  // A new version that is not healthy this long after it started is rolled back.
  Duration deadline{60000};
  bool operator==(const HealthSpec&) const = default;
};

struct BuildSpec {
  std::string context;                     // directory in the spec repo, e.g. "web"
  std::string dockerfile = "Dockerfile";   // relative to the context
  std::map<std::string, std::string> args;
  bool operator==(const BuildSpec&) const = default;
};

struct UpdateSpec {
  int max_surge = 1;        // extra replicas allowed during a rolling update
  int max_unavailable = 0;  // replicas allowed below `replicas` during an update
  bool operator==(const UpdateSpec&) const = default;
};

struct ResourceSpec {
  int64_t memory_bytes = 0;  // 0 = no limit
  double cpus = 0;           // 0 = no limit
  bool operator==(const ResourceSpec&) const = default;
};

struct AppSpec {
  std::string name;  // from the file name: apps/web.yaml -> "web"
  std::string file;  // "apps/web.yaml"
  std::string image;                 // a local image (when `build` is absent)
  std::optional<BuildSpec> build;    // built from the spec repo's tree at the commit
  int replicas = 1;                  // per node that runs the app (see `placement`)
  Placement placement = Placement::kOrigin;
  std::vector<std::string> command;  // overrides the image's CMD when not empty
  std::map<std::string, std::string> env;
  std::vector<PortSpec> ports;
  std::vector<VolumeSpec> volumes;
  std::optional<HealthSpec> health;
  ResourceSpec resources;
  std::string restart = "unless-stopped";  // no | on-failure | always | unless-stopped
  std::vector<std::string> depends_on;     // app names; started after these are healthy
  UpdateSpec update;
  std::map<std::string, std::string> labels;  // extra container labels (not `shoal.*`)
  bool operator==(const AppSpec&) const = default;
};

struct Spec {
  ClusterSpec cluster;
  std::vector<AppSpec> apps;  // sorted by name
};

}  // namespace shoal
