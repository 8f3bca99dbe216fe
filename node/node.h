// The only place concrete classes are built: `node.yaml` -> one struct owning every layer
// (Bitcoin Core's `node/context.h`), and the threads that run it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "api/https_server.h"
#include "builder/image_builder.h"
#include "cluster/cluster_view.h"
#include "cluster/identity.h"
#include "cluster/membership.h"
#include "common/clock.h"
#include "gitops/spec_source.h"
#include "node/node_backend.h"
#include "reconcile/reconciler.h"
#include "reconcile/state_store.h"
#include "runtime/container_runtime.h"
#include "schemas/node_config.h"

namespace shoal {

struct NodeContext {
  NodeConfig config;
  std::stop_source shutdown;  // requested first when the node stops: cancels builds and plans
  ClockPtr clock;
  IdentityOptions identity_options;
  Identity identity;
  StateStorePtr store;
  SpecSourcePtr source;
  ContainerRuntimePtr runtime;
  ImageBuilderPtr builder;
  ClusterViewPtr cluster;  // standalone: LocalCluster; clustered: null, `membership` is the view
  // Clustered only (node.yaml has a `cluster:` section):
  std::string advertise;  // the IP other nodes reach this one at
  std::unique_ptr<Prober> prober;
  std::unique_ptr<Hub> hub;
  std::unique_ptr<Membership> membership;
  SpecSourcePtr shared_source;        // `source` behind the cluster's shared head
  std::unique_ptr<HttpsServer> peer;  // GET /v1/cluster, for nodes of the cluster CA only
  std::unique_ptr<Reconciler> reconciler;
  std::unique_ptr<NodeBackend> backend;
  std::unique_ptr<HttpsServer> api;
};

// Makes the data dir, the identity, the store and every layer, and starts the status endpoint.
// Errors say which part failed and why.
Result<std::unique_ptr<NodeContext>> buildNode(const NodeConfig& config);

ClusterView& clusterView(NodeContext& ctx);

// Runs the loop thread ("reconcile"), the Docker event thread ("docker-events") and, when
// clustered, the membership thread ("membership") until `stop`, which leaves the cluster (the
// lease is revoked) and stops etcd if this node runs it.
class NodeRunner {
 public:
  explicit NodeRunner(NodeContext& ctx);
  ~NodeRunner();
  Status start();
  void stop();

 private:
  void loop();
  void watchDocker(std::stop_token stop);
  void runMembership();
  void wakeLoop();
  void publishStatus();
  void renewIdentityIfDue();

  NodeContext& ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::jthread loop_thread_;
  std::jthread events_thread_;
  std::jthread membership_thread_;
};

}  // namespace shoal
