// Roles and placement through the elected leader, in one process (SimWorld): the hub set follows
// the cluster's size one etcd change at a time, better nodes are promoted, dead hubs replaced,
// a lost quorum waits or recovers, and replicas follow the nodes.
#include <gtest/gtest.h>

#include "cluster/roles.h"
#include "tests/sim/sim_world.h"

namespace shoal::sim {
namespace {

std::string nodeId(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "n%02d", i);
  return buf;
}

// Rounds until `done` or `limit` rounds; true when done.
template <typename F>
bool until(SimWorld& w, int limit, F done) {
  for (int i = 0; i < limit; ++i) {
    if (done()) return true;
    w.rounds(1);
  }
  return done();
}

int placedTotal(SimWorld& w, const std::string& app) {
  int total = 0;
  for (SimNode* n : w.live()) {
    auto it = n->containers.find(app);
    if (it != n->containers.end()) total += it->second;
  }
  return total;
}

TEST(Hubs, OneThreeSevenThreeOneNodesGiveOneThreeFiveThreeOneHubs) {
  SimWorld w;
  w.add(nodeId(0));
  w.rounds(10);
  ASSERT_EQ(w.clusters().size(), 1u);
  EXPECT_EQ(w.voters().size(), 1u);

  for (int i = 1; i < 3; ++i) w.add(nodeId(i));
  EXPECT_TRUE(until(w, 60, [&] { return w.voters().size() == 3; })) << w.voters().size();
  for (int i = 3; i < 7; ++i) w.add(nodeId(i));
  EXPECT_TRUE(until(w, 80, [&] { return w.voters().size() == 5; })) << w.voters().size();
  EXPECT_EQ(w.clusters().size(), 1u);

  // Leave gracefully until 3 are left, then 1: hubs leave the voters before they go.
  for (int i = 6; i >= 3; --i) {
    w.leave(nodeId(i));
    w.rounds(2);
  }
  EXPECT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; })) << w.voters().size();
  for (int i = 2; i >= 1; --i) {
    w.leave(nodeId(i));
    w.rounds(2);
  }
  EXPECT_TRUE(until(w, 80, [&] { return w.voters().size() == 1; })) << w.voters().size();
  EXPECT_EQ(w.voters(), std::vector<std::string>{nodeId(0)});
  EXPECT_EQ(w.find(nodeId(0))->membership->size(), 1);
}

TEST(Hubs, ADeadHubIsReplacedAndNoDataIsLost) {
  SimWorld w;
  for (int i = 0; i < 4; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  auto kv = w.etcd.store(nodeId(0), {SimEtcd::clientUrl(nodeId(0)), SimEtcd::clientUrl(nodeId(1)),
                                      SimEtcd::clientUrl(nodeId(2)), SimEtcd::clientUrl(nodeId(3))});
  ASSERT_TRUE(kv->put("/test/canary", "before"));
  auto voters = w.voters();
  std::string victim = voters.back();
  w.crash(victim);
  ASSERT_TRUE(until(w, 120, [&] {
    auto v = w.voters();
    return v.size() == 3 && std::find(v.begin(), v.end(), victim) == v.end();
  })) << "voters: " << w.voters().size();
  auto got = kv->get("/test/canary");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "before");
}

TEST(Hubs, ReplicasOfACrashedNodeArePlacedElsewhere) {
  SimWorld w;
  w.setSpec(simpleSpec(2, 3));
  for (int i = 0; i < 4; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return placedTotal(w, "app-0") == 3 && placedTotal(w, "app-1") == 3; }));
  // Spread: no node runs two replicas of one app while others run none.
  for (SimNode* n : w.live()) EXPECT_LE(n->containers["app-0"], 1) << n->id;
  SimNode* victim = nullptr;
  for (SimNode* n : w.live())
    if (n->containers.count("app-0") && n->id != w.leader()) victim = n;
  ASSERT_NE(victim, nullptr);
  w.crash(victim->id);
  EXPECT_TRUE(until(w, 60, [&] { return placedTotal(w, "app-0") == 3 && placedTotal(w, "app-1") == 3; }));
}

}  // namespace
}  // namespace shoal::sim
