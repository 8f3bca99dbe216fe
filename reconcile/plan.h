// The pure heart of shoal: desired state + what Docker shows -> the steps to take now.
//
// `diff` is level-triggered, like a Kubernetes controller: it looks at the containers as they are
// and returns only the steps that can be taken *now* (create the surge replica; remove an old one
// once a new one is ready). Called again after the steps took effect, it returns the next ones, so
// a rolling update is a sequence of ticks, and a node killed mid-rollout simply resumes from what
// Docker shows. It does no I/O and reads no clock: `now` is passed in.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "reconcile/desired.h"
#include "runtime/container_runtime.h"

namespace shoal {

// How the plan sees one container of an app.
enum class ReplicaPhase {
  kCreated,   // created, never started (a crash between create and start)
  kStarting,  // running, health check not yet passed
  kReady,     // running and healthy (or running with no health check)
  kFailing,   // unhealthy, or not ready by the health deadline
  kStopped,   // exited or dead
  kPaused,
};
const char* replicaPhaseName(ReplicaPhase p);
ReplicaPhase replicaPhase(const ContainerInfo& c, Duration health_deadline, TimePoint now);

enum class StepKind {
  kCreate,      // create and start a replica named `container` from `config`
  kStart,       // start an existing container
  kRemove,      // stop (grace period) and remove
  kPause,
  kUnpause,
  kStop,        // stop, keep the container (below_min: stop)
  kMarkFailed,  // record `hash` of `app` as failed (-> rolled back next tick) because of `reason`
  kMarkGood,    // record `hash` of `app` as its last good version
};
const char* stepKindName(StepKind k);

struct Step {
  StepKind kind;
  std::string app;
  std::string container;  // the name (kCreate) or the id (others); empty for kMark*
  std::string hash;
  std::string reason;     // why, in words, for the journal and the event log
  ContainerConfig config; // kCreate only
};

// What the plan concluded about an app, for status.
enum class AppPhase { kConverging, kHealthy, kFailing, kWaiting, kPaused, kStopped, kKept, kRemoved };
const char* appPhaseName(AppPhase p);

struct AppView {
  std::string name;
  AppPhase phase = AppPhase::kConverging;
  std::string hash;
  int desired = 0;
  int ready = 0;      // ready replicas of the desired version
  int running = 0;    // all running containers of the app, any version
  std::string message;  // e.g. "waiting for db", "1/3 ready", "health check ... failed"
};

struct Plan {
  std::vector<Step> steps;
  std::vector<AppView> apps;  // desired apps, then pruned ones
  bool converged() const;     // nothing to do and every app healthy (or held on purpose)
};

// `observed`: every container carrying this node's `shoal.node` and `shoal.cluster` labels.
Plan diff(const Desired& desired, const std::vector<ContainerInfo>& observed, TimePoint now);

// The Docker name of replica `index` of `app` at `hash` on node `node_id`:
// "shoal-web-3f2a9c1b-7d1e40-0". Deterministic, so a create retried after a crash collides with the
// container it already made (Docker answers 409) instead of making a duplicate.
std::string replicaName(const std::string& app, const std::string& hash, const std::string& node_id, int index);

}  // namespace shoal
