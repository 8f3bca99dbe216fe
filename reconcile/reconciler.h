// The node's control loop: spec commit -> validated spec -> images -> desired state; Docker ->
// observed state; `diff` -> plan -> `Applier`; then a `Report` and, per commit, a git note.
//
// Thread safety: `tick` runs on one loop thread only and owns all state. `wake` and `report` may be
// called from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <random>
#include <string>

#include "builder/image_builder.h"
#include "cluster/cluster_view.h"
#include "common/clock.h"
#include "gitops/spec_source.h"
#include "reconcile/apply.h"
#include "reconcile/report.h"
#include "reconcile/state_store.h"
#include "runtime/container_runtime.h"
#include "schemas/diagnostic.h"
#include "schemas/spec.h"

namespace shoal {

struct ReconcilerOptions {
  std::string node_name;
  std::string repo;    // for status only
  std::string branch;  // for status only
  Duration poll_interval{1000};
  // Up to this much is added at random to each poll interval, so that nodes started together
  // don't poll the git host in lockstep.
  Duration poll_jitter{0};
  Duration resync_interval{5000};
  Duration rollout_check{500};  // how soon to look again while something is changing
  Duration stop_grace{10000};
  bool write_notes = true;
  std::stop_token stop;      // the node is shutting down: no new steps
  int keep_events = 10000;   // the store keeps this many events (newest)
  int keep_journal = 1000;   // and this many finished journal entries
};

class Reconciler {
 public:
  Reconciler(SpecSource& source, ContainerRuntime& runtime, ImageBuilder& builder, StateStore& store,
             ClusterView& cluster, const Clock& clock, ReconcilerOptions options);

  // Restores the last applied commit's spec from the mirror and closes journal entries a crash
  // left open. Containers already running are adopted by their labels on the first tick.
  Status start();
  // One pass of the loop. Returns when the next pass is due (sooner if `wake` is called).
  TimePoint tick();
  // Something changed in Docker: the next tick should look now. Thread-safe.
  void wake() { woken_ = true; }
  bool woken() const { return woken_.load(); }
  Report report() const;
  // The spec at the applied commit (null before the first one loads); the cluster's leader places
  // its apps. Thread-safe.
  std::shared_ptr<const Spec> appliedSpec() const;
  // The events sink shared with the applier: store + log.
  void event(const std::string& level, const std::string& kind, const std::string& app, const std::string& message);

 private:
  enum class Load { kLoaded, kRefused, kUnreadable };

  void poll(TimePoint now);
  void evaluate(const std::string& commit);
  // kRefused fills `refused`; kUnreadable (the mirror or a file could not be read: an I/O
  // problem, not the commit's fault) fills `error` and the commit is tried again later.
  Load loadSpecAt(const std::string& commit, Diagnostics* refused, std::string* error);
  void resolveImages();
  Desired desired();
  // nullopt: not known now (clustered, not placed yet): the app is held as it is.
  std::optional<int> replicasHere(const AppSpec& app) const;
  // This node's containers, with start times and exit codes filled in where the plan needs them.
  Result<std::vector<ContainerInfo>> observe();
  void afterApply(const Plan& plan, const ApplyResult& result, const std::vector<ContainerInfo>& observed);
  // A role is released with its data: once a role-bound app has no share here and none of its
  // containers is left, its named volumes are removed (once; see `role_data_`). Apps without a
  // role keep their volumes whatever placement does. `noteRoleData` runs on what the plan saw,
  // `releaseRoleData` on what Docker shows after the steps.
  void noteRoleData(const std::vector<ContainerInfo>& observed);
  void releaseRoleData(const std::vector<ContainerInfo>& observed);
  bool holdsRoleData(const std::string& app);
  void setHoldsRoleData(const std::string& app, bool holds);
  void recordOutcome(const std::string& outcome, const std::string& detail);
  void publish(const Desired& desired, const Plan& plan, const std::vector<ContainerInfo>& observed);

  SpecSource& source_;
  ContainerRuntime& runtime_;
  ImageBuilder& builder_;
  StateStore& store_;
  ClusterView& cluster_;
  const Clock& clock_;
  ReconcilerOptions options_;
  Applier applier_;

  // Loop-thread state.
  std::optional<Spec> spec_;
  SpecTreePtr tree_;                              // the applied commit's files
  std::string applied_commit_;
  std::map<std::string, std::string> images_;        // app -> image for the applied commit
  std::map<std::string, std::string> build_errors_;  // app -> definitive error for the applied commit
  std::map<std::string, std::string> image_retry_;   // app -> retryable error: tried again each tick
  // Role-bound app -> whether this node may hold its volumes: set while it has a share or
  // containers here, cleared once they are removed. Mirrors the store's meta `role_data.<app>`
  // ("held"), so a node restarted between removing the containers and the volumes still removes
  // the volumes, and one that never ran the app removes (and reports) nothing.
  std::map<std::string, bool> role_data_;
  std::map<std::string, std::string> release_errors_;  // app -> last volume removal error (reported once)
  std::string last_outcome_;                      // of the applied commit
  std::string note_;                              // its note so far (one line per outcome)
  TimePoint next_poll_{};
  int poll_failures_ = 0;
  int64_t ticks_since_trim_ = 0;
  std::atomic<bool> woken_{true};
  std::minstd_rand jitter_{std::random_device{}()};

  mutable std::mutex mu_;
  Report report_;  // GUARDED_BY(mu_)
  std::shared_ptr<const Spec> shared_spec_;  // GUARDED_BY(mu_)
};

}  // namespace shoal
