// `SimEtcd`: etcd clusters in one process, the fake beside `EtcdProcess` + `EtcdKv` + `EtcdAdmin`,
// so that tests and the simulator (hundreds of nodes, seeded fault schedules) run the real
// membership and leader code against a store with etcd's rules:
//
// - a node's etcd data belongs to one cluster; `Hub::start()` with no data originates a new
//   one-voter cluster, `join()` takes the learner slot the leader added for the node's peer URL;
// - store calls succeed only through a running member that reaches a majority of its cluster's
//   voters (running, reachable, still members): a lost quorum or a partition is `kUnavailable`;
// - a learner can be promoted once it has run for `catch_up`; a removed member's etcd stops;
// - `recover()` leaves the node the only voter of its own copy of the data, keeping every key and
//   lease (--force-new-cluster); members it could not reach go on with theirs.
//
// Addresses: a node's client URL is "sim://<node>", its peer URL "sim-peer://<node>". `setReach`
// decides which nodes reach which (partitions). Safe for use from several threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/hub_admin.h"
#include "cluster/kv_store.h"
#include "cluster/membership.h"
#include "common/clock.h"

namespace shoal {

class SimEtcd {
 public:
  explicit SimEtcd(const Clock& clock, Duration catch_up = Duration(1000));
  ~SimEtcd();

  static std::string clientUrl(const std::string& node) { return "sim://" + node; }
  static std::string peerUrl(const std::string& node) { return "sim-peer://" + node; }

  // `reach(a, b)`: node a's packets reach node b. Default: every node reaches every node.
  void setReach(std::function<bool(const std::string&, const std::string&)> reach);
  // A crashed node: its etcd stops (data kept). `Hub::start` brings it back.
  void crash(const std::string& node);

  std::unique_ptr<Hub> hub(const std::string& node);
  // A store client of `node` over `endpoints` (client URLs).
  KvStorePtr store(const std::string& node, const std::vector<std::string>& endpoints);
  std::unique_ptr<HubAdmin> admin(const std::string& node, const std::vector<std::string>& endpoints);

  // For invariant checks: the voters (node ids) of the cluster whose data `node` holds; empty
  // when it holds none.
  std::vector<std::string> votersOf(const std::string& node) const;
  bool runningForTest(const std::string& node) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace shoal
