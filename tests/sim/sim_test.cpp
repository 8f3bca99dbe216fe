// The simulation tier: seeded random fault schedules (kill, join, leave, partition, heal, restart)
// against whole clusters in one process (SimWorld), with the invariants checked once the faults
// stop and the cluster has settled:
//   - the running nodes form one cluster with one leader;
//   - the etcd voters are running nodes, as many as the hub table says for the cluster's size,
//     and an odd number;
//   - every app has exactly its replicas running, on running nodes only (none lost, none twice);
//   - a key written before the first fault is still there (no etcd data lost).
// Even seeds use `quorum_loss: wait` (crashed nodes come back at the end, as rebooted machines
// do) and partitions; odd seeds use `recover_after: 10s` (crashed nodes stay dead) and no
// partitions: a survivor that recovers while the others are only cut off forks the cluster, the
// hazard that `recover_after` accepts (doc/roles.md).
//
// A failure prints its seed and schedule. Replay one: SHOAL_SIM_SEED=123 sim_test; run more:
// SHOAL_SIM_SEEDS=10000 sim_test. CI runs 1,000 schedules of each kind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <sstream>

#include "cluster/roles.h"
#include "tests/sim/sim_world.h"

namespace shoal::sim {
namespace {

struct Outcome {
  bool ok = true;
  std::string schedule;
  std::string failure;
};

Outcome runSeed(uint64_t seed, bool partitions) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Outcome out;
  std::ostringstream log;
  const bool recover = seed % 2 == 1;

  SimWorld w(Duration(4000), seed);
  Spec spec = simpleSpec(pick(1, 3), pick(1, 5));
  if (recover) {
    spec.cluster.quorum_loss = QuorumLoss::kRecover;
    spec.cluster.recover_after = Duration(10000);
  }
  w.setSpec(spec);
  int next = 0;
  auto addNode = [&] {
    std::string id = "s" + std::to_string(next++);
    w.add(id, pick(1, 8), int64_t{pick(1, 16)} << 30);
    log << " +" << id;
  };
  int initial = pick(1, 7);
  for (int i = 0; i < initial; ++i) addNode();
  w.rounds(20);
  bool canary_written = false;
  std::string canary_cluster;
  for (SimNode* n : w.live()) {
    auto kv = w.etcd.store(n->id, {SimEtcd::clientUrl(n->id)});
    auto s = n->membership->status();
    if (s.cluster && kv->put("/test/canary", "seed")) {
      canary_written = true;
      canary_cluster = s.cluster->id;
      break;
    }
  }

  bool partitioned = false;
  int events = pick(4, 12);
  for (int e = 0; e < events; ++e) {
    auto live = w.live();
    int what = pick(0, 9);
    if (what <= 1 && !partitioned && w.nodes.size() < 12) {
      addNode();
    } else if (what <= 3 && live.size() > 1) {
      SimNode* n = live[pick(0, static_cast<int>(live.size()) - 1)];
      log << " kill:" << n->id;
      w.crash(n->id);
      if (recover) {
        // Crashed nodes stay dead here: once no running node holds the etcd data, it is gone
        // for good (the only copies died), and the canary can't be asked for.
        bool held = false;
        for (SimNode* m : w.live()) held |= w.etcd.runningForTest(m->id) || m->hub->hasData();
        if (!held) {
          canary_written = false;
          log << "(data gone)";
        }
      }
    } else if (what <= 4 && live.size() > 1) {
      SimNode* n = live[pick(0, static_cast<int>(live.size()) - 1)];
      log << " leave:" << n->id;
      w.leave(n->id);
    } else if (what <= 6 && live.size() > 2 && !recover && partitions) {
      log << " split:";
      for (SimNode* n : live) {
        n->group = pick(0, 1);
        log << n->group;
      }
      partitioned = true;
    } else if (what <= 7 && partitioned) {
      log << " heal";
      w.heal();
      partitioned = false;
    } else if (!recover) {
      for (auto& n : w.nodes) {
        if (!n->running && std::find(live.begin(), live.end(), n.get()) == live.end() && pick(0, 1)) {
          log << " restart:" << n->id;
          w.restart(n->id);
          break;
        }
      }
    }
    int r = pick(1, 30);
    log << " ~" << r;
    w.rounds(r);
  }
  // The faults stop: heal, bring crashed machines back (under wait), settle.
  w.heal();
  log << " | heal";
  if (!recover) {
    for (auto& n : w.nodes) {
      if (!n->running && !n->left) {
        log << " restart:" << n->id;
        w.restart(n->id);
      }
    }
  }
  w.rounds(240);
  out.schedule = log.str();

  auto live = w.live();
  // Each running node: its cluster, its etcd and that etcd's voters, its last events.
  auto who = [&] {
    std::string text;
    for (SimNode* n : live) {
      auto s = n->membership->status();
      std::string v;
      for (const auto& x : w.etcd.votersOf(n->id)) v += x + ",";
      text += "\n    " + n->id + "=" + (s.cluster ? s.cluster->id.substr(0, 6) : "none") + (s.hub ? "(hub)" : "") +
              (s.leader == n->id ? "(leader)" : "") + (w.etcd.runningForTest(n->id) ? " etcd up" : " etcd down") +
              " voters{" + v + "} [" + s.reason + "]";
      std::string recent;
      for (size_t i = n->events.size() > 14 ? n->events.size() - 14 : 0; i < n->events.size(); ++i)
        recent += " " + n->events[i];
      text += "\n      events:" + recent;
    }
    return text;
  };
  auto failWith = [&](const std::string& why) {
    out.ok = false;
    out.failure = why + who();
    return out;
  };
  if (live.empty()) return out;
  if (w.clusters().size() != 1) return failWith(std::to_string(w.clusters().size()) + " clusters:");
  if (w.leader().empty()) return failWith("no single leader");
  auto voters = w.voters();
  int want = hubCount(spec.cluster.hubRole().count, static_cast<int>(live.size()));
  if (static_cast<int>(voters.size()) != want)
    return failWith(std::to_string(voters.size()) + " voters for " + std::to_string(live.size()) +
                    " nodes (want " + std::to_string(want) + ")");
  if (voters.size() % 2 == 0) return failWith("an even number of voters");
  for (const auto& v : voters)
    if (!w.find(v) || !w.find(v)->running) return failWith("voter " + v + " is not running");
  for (const auto& app : spec.apps) {
    int running = 0;
    for (SimNode* n : live) running += n->containers.count(app.name) ? n->containers[app.name] : 0;
    if (running != app.replicas)
      return failWith(app.name + ": " + std::to_string(running) + " replicas running, want " +
                      std::to_string(app.replicas));
  }
  // A cluster that lost every hub holding its data (a 1- or 2-node cluster's only hub killed) is
  // re-formed by the nodes left, and merged into when the old hub returns: its data goes by
  // design. The canary is asked for when the cluster that holds it is the one that remains.
  if (canary_written && *w.clusters().begin() == canary_cluster) {
    std::vector<std::string> urls;
    for (const auto& v : voters) urls.push_back(SimEtcd::clientUrl(v));
    auto kv = w.etcd.store(live.front()->id, urls);
    auto got = kv->get("/test/canary");
    if (!got) return failWith("the store does not answer: " + got.error().message);
    if (!*got) return failWith("the canary key is lost");
  }
  return out;
}

uint64_t envNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Runs 1,000 schedules (SHOAL_SIM_SEEDS more or fewer, from the SHOAL_SIM_FIRST-th on, 0 by
// default; SHOAL_SIM_SEED one). With partitions the seeds are the even ones (2, 4, ...): only they
// split the network, an odd seed's schedule would be the same as without.
void runSeeds(bool partitions) {
  uint64_t only = envNumber("SHOAL_SIM_SEED", 0);
  uint64_t first = only ? 0 : envNumber("SHOAL_SIM_FIRST", 0);
  uint64_t count = only ? 1 : envNumber("SHOAL_SIM_SEEDS", 1000);
  int failures = 0;
  for (uint64_t i = first; i < first + count; ++i) {
    uint64_t seed = only ? only : partitions ? 2 * (i + 1) : i + 1;
    Outcome o = runSeed(seed, partitions);
    if (!o.ok) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": " << o.failure << "\n  schedule:" << o.schedule
                    << "\n  replay: SHOAL_SIM_SEED=" << seed << " " << ::testing::internal::GetArgvs()[0]
                    << " --gtest_filter=" << (partitions ? "SimulationPartitions.*" : "Simulation.*");
      if (failures >= 10) break;
    }
  }
  EXPECT_EQ(failures, 0);
}

// Kills, joins, graceful leaves and restarts.
TEST(Simulation, SeededFaultSchedulesKeepTheInvariants) { runSeeds(false); }

// The same with network partitions among the nodes, healed and split again.
TEST(SimulationPartitions, SeededFaultSchedulesWithPartitionsKeepTheInvariants) { runSeeds(true); }

}  // namespace
}  // namespace shoal::sim
