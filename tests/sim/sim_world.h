// `SimWorld`: a whole cluster in one process, for the simulation tier and bench_sim. Every node is
// the real `Membership` (with the real `Controller` when it is the leader) over `SimEtcd`, on a
// `FakeClock` advanced in rounds; discovery lists every address the world ever used, probes ask
// the other nodes' `answer()` directly. A partition is a group number per node: nodes of different
// groups reach neither each other's peer endpoint nor each other's etcd.
//
// Containers are modelled by what the reconciler converges to: a running member runs, for each
// app, the replicas placed on it; a crashed node runs nothing; a node cut off from the store keeps
// running what it last had (`running()`).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cluster/membership.h"
#include "cluster/sim_etcd.h"
#include "common/clock.h"
#include "schemas/spec.h"

namespace shoal::sim {

struct SimNode {
  std::string id;
  std::string address;
  int cpus = 2;
  int64_t memory_bytes = int64_t{4} << 30;
  std::map<std::string, std::string> labels;
  int group = 0;
  bool running = false;
  bool left = false;  // it stopped by leaving (SIGTERM), not by crashing, since its last start
  std::string dir;
  std::unique_ptr<Prober> prober;
  std::unique_ptr<Hub> hub;
  std::unique_ptr<Membership> membership;
  std::map<std::string, int> containers;  // app -> replicas running here
  bool healthy = true;                    // false: its replicas run but never pass their health check
  std::vector<std::string> events;        // kinds, in order
};

class SimWorld {
 public:
  // `seed`: cluster ids are drawn from it, so that a world replays exactly.
  explicit SimWorld(Duration lease_ttl = Duration(4000), uint64_t seed = 1);
  ~SimWorld();

  FakeClock clock;
  SimEtcd etcd{clock, Duration(1500)};

  // The spec every node applies.
  void setSpec(Spec spec);
  const Spec& spec() const { return *spec_; }

  SimNode& add(const std::string& id, int cpus = 2, int64_t memory_bytes = int64_t{4} << 30,
               std::map<std::string, std::string> labels = {});
  void crash(const std::string& id);    // no leave; its etcd dies with it
  void leave(const std::string& id);    // SIGTERM: Membership::leave, then gone
  void restart(const std::string& id);  // a new Membership over the same data (etcd's too)
  void setGroup(const std::string& id, int group);
  void heal();                          // every node in group 0

  // `count` rounds of `step`: every running node ticks, then containers follow placements.
  void rounds(int count, Duration step = Duration(500));

  SimNode* find(const std::string& id);
  std::vector<SimNode*> live();  // running nodes
  bool reach(const std::string& a, const std::string& b) const;
  std::set<std::string> clusters();  // cluster ids of the running members
  std::string leader();              // the leader as the running members see it ("" if they differ)
  std::vector<std::string> voters(); // the etcd voters of the leader's cluster

  std::vector<std::unique_ptr<SimNode>> nodes;

 private:
  void start(SimNode& n);
  void follow(SimNode& n);

  Duration lease_ttl_;
  uint64_t seed_;
  std::shared_ptr<const Spec> spec_;
  std::string root_;
  std::vector<std::string> addresses_;
};

// A spec for tests: `apps` spread apps "app-N" with `replicas` each, no requests.
Spec simpleSpec(int apps, int replicas);

}  // namespace shoal::sim
