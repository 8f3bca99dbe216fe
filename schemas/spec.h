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

// Which nodes run an app's replicas (the cluster's leader decides; see cluster/placement.h).
// `kSpread` (default): `replicas` in total, spread across nodes. `kOrigin`: all `replicas` on one
// node, the cluster's origin while it is a member. `kEveryNode`: `replicas` on every node.
// A standalone node runs every app's `replicas` itself.
enum class Placement { kSpread, kOrigin, kEveryNode };
const char* placementName(Placement p);  // "spread", "origin", "every-node"
std::optional<Placement> placementFromName(std::string_view name);

// How many nodes hold a role, by cluster size: `table` maps "from this many nodes" to a count
// (the entry with the largest key <= the size applies), or every node.
struct RoleCount {
  bool every_node = false;
  std::map<int, int> table;  // from_nodes -> count; the first key is 1
  bool operator==(const RoleCount&) const = default;
};

// A role in `cluster.yaml` `roles:`. `hub` (an etcd voter) is built in and always present; other
// roles are carried out by the apps that name them (`role: ingress`).
struct RoleSpec {
  std::string name;
  RoleCount count;
  std::map<std::string, std::string> forbid;  // a node with any of these labels never holds it
  std::map<std::string, std::string> prefer;  // a node with all of these scores higher
  bool operator==(const RoleSpec&) const = default;
};
// The hub default: 1 hub for 1-2 nodes, 3 for 3-6, 5 from 7.
RoleCount defaultHubCount();

// How candidates for a role are compared (`scoring:`): memory, cpu and latency are normalized over
// the candidates; uptime against `mature_after_s` (a node up that long or longer scores 1).
struct ScoreWeights {
  double memory = 2;
  double cpu = 2;
  double uptime = 1;
  double latency = 1;  // low round-trip time to the hubs scores higher
  int64_t mature_after_s = 3600;  // scoring.mature_after
  bool operator==(const ScoreWeights&) const = default;
};

// What the cluster does when a majority of hubs is gone (`quorum_loss:`). `kWait` (default): wait
// for them. `kRecover`: after `recover_after`, the most up-to-date surviving hub restarts etcd as a
// new one-member cluster from its data; the other nodes rejoin it.
enum class QuorumLoss { kWait, kRecover };

struct ClusterSpec {
  std::string name = "shoal";
  int min_nodes = 1;
  BelowMin below_min = BelowMin::kPause;
  std::vector<RoleSpec> roles{{"hub", defaultHubCount(), {}, {}}};  // sorted by name; always holds "hub"
  ScoreWeights weights;
  double hysteresis = 0.2;      // a challenger must score this much (relative) above a holder
  QuorumLoss quorum_loss = QuorumLoss::kWait;
  Duration recover_after{0};    // kRecover only
  bool rebalance = false;       // move replicas to even out the spread when nodes join
  const RoleSpec& hubRole() const;  // the "hub" entry
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

// Limits for Docker, and the requests placement counts against a node's capacity.
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
  int replicas = 1;                  // in total (spread, origin) or per node (every-node, role)
  Placement placement = Placement::kSpread;
  std::string role;                  // run on every node holding this role (never with `placement`)
  // Node labels the app needs: "key": "value", or "key": "!value" (absent or different).
  std::map<std::string, std::string> constraints;
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
