// The status endpoint's view of this node: snapshots published by the loop thread, events from
// the store, logs from the runtime. Safe for concurrent use by multiple threads.
#pragma once

#include <memory>
#include <mutex>

#include "api/api_backend.h"
#include "cluster/membership.h"
#include "reconcile/report.h"
#include "reconcile/state_store.h"
#include "runtime/container_runtime.h"

namespace shoal {

class NodeBackend : public ApiBackend {
 public:
  NodeBackend(StateStore& store, ContainerRuntime& runtime, std::string node_id);

  // Called by the loop thread after each tick. `membership` is null for a standalone node.
  void publish(const Report& report, const MembershipStatus* membership = nullptr);

  std::shared_ptr<const Snapshot> snapshot() const override;
  Result<std::string> eventsJson(int64_t since, int limit) override;
  Result<std::string> appLogs(const std::string& app, int tail) override;

 private:
  StateStore& store_;
  ContainerRuntime& runtime_;
  std::string node_id_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // GUARDED_BY(mu_)
};

}  // namespace shoal
