// Desired state: what this node should run, derived from a validated spec (pure functions).
//
// A container is identified by the app it belongs to and the *spec hash* of its configuration
// (image, command, env, ports, volumes, limits, health check, labels). Two containers with the same
// hash are interchangeable replicas; a different hash is a different version. The commit is kept
// out of the hash on purpose: a commit that changes nothing about an app must not restart it. So are
// `replicas` and `placement`: they say how many containers run where, not what a container is, so
// changing them adds or removes containers without replacing the others.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/container_runtime.h"
#include "schemas/spec.h"

namespace shoal {

// Labels on every container shoal creates. A node touches only containers carrying its own
// `shoal.node` and `shoal.cluster` values.
inline constexpr const char* kLabelCluster = "shoal.cluster";
inline constexpr const char* kLabelNode = "shoal.node";
inline constexpr const char* kLabelApp = "shoal.app";
inline constexpr const char* kLabelSpec = "shoal.spec";
inline constexpr const char* kLabelCommit = "shoal.commit";

// What the cluster's size makes of apps (the `min_nodes` / `below_min` rule).
enum class Activation { kRun, kPause, kStop, kKeep };
const char* activationName(Activation a);
// Below `min_nodes`, `below_min` decides; at or above it, apps run.
Activation activationFor(const ClusterSpec& cluster, int cluster_size);

struct DesiredApp {
  std::string name;
  std::string hash;          // spec hash (16 hex) of `config`
  ContainerConfig config;    // `name` empty: chosen per replica by the plan
  int replicas = 1;
  Placement placement = Placement::kOrigin;  // which nodes run `replicas` (see `AppSpec`)
  UpdateSpec update;
  std::vector<std::string> depends_on;
  bool has_health = false;
  Duration health_deadline{60000};
  std::string health_description;
  std::string commit;        // the commit this version comes from
  bool rolled_back = false;  // true when this is the last good version standing in for a failed one
  std::string good_hash;     // the last version that became healthy ("" if none yet)
  std::string failed_hash;   // a version already marked failed (not retried)
};

struct Desired {
  std::string cluster;
  std::string node_id;
  Activation activation = Activation::kRun;
  std::vector<DesiredApp> apps;  // in dependency order (dependencies first), then by name
  // Apps whose desired version can't be known now (a build failed and there is no good version to
  // fall back to): their containers are left exactly as they are, never pruned.
  std::vector<std::string> held;
  std::map<std::string, std::string> held_reasons;  // app -> why, when not the image
};

// The container configuration of `app` running `image` on this node (without a name).
ContainerConfig containerConfigFor(const AppSpec& app, const std::string& image, const std::string& cluster,
                                   const std::string& node_id, const std::string& commit);
// A stable 16-hex-digit hash of `config`, ignoring its name and the `shoal.commit` label.
std::string specHash(const ContainerConfig& config);

// `DesiredApp` <-> JSON, stored as an app's last good version so it can be rolled back to.
std::string desiredAppToJson(const DesiredApp& app);
Result<DesiredApp> desiredAppFromJson(const std::string& json);

// Apps ordered so that every app comes after the apps it depends on (ties by name). The spec was
// validated, so there is no cycle.
std::vector<const AppSpec*> dependencyOrder(const std::vector<AppSpec>& apps);

}  // namespace shoal
