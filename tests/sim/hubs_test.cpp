// Roles and placement through the elected leader, in one process (SimWorld): the hub set follows
// the cluster's size one etcd change at a time, better nodes are promoted, dead hubs replaced,
// a lost quorum waits or recovers, and replicas follow the nodes.
#include <gtest/gtest.h>

#include "cluster/hub_admin.h"
#include "cluster/records.h"
#include "cluster/roles.h"
#include "tests/sim/sim_world.h"

namespace shoal::sim {
namespace {

std::string nodeId(int i) {
  char buf[16];
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

// A leaving node is ready to go only once the replicas it ran are healthy where the leader placed
// them instead, as their nodes report it (the `ready` counts of their member records).
TEST(Hubs, ALeavingNodeWaitsUntilItsReplicasAreHealthyElsewhere) {
  SimWorld w;
  w.setSpec(simpleSpec(1, 2));
  for (int i = 0; i < 3; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return placedTotal(w, "app-0") == 2; }));
  SimNode* leaver = nullptr;
  SimNode* spare = nullptr;
  for (SimNode* n : w.live()) {
    if (!n->containers.count("app-0"))
      spare = n;
    else if (n->id != w.leader())
      leaver = n;
  }
  ASSERT_NE(leaver, nullptr);
  ASSERT_NE(spare, nullptr);
  spare->healthy = false;
  leaver->membership->beginLeave();
  ASSERT_TRUE(until(w, 20, [&] { return spare->containers.count("app-0") == 1; })) << "placed on the spare";
  w.rounds(20);
  EXPECT_FALSE(leaver->membership->readyToLeave()) << "the replica on the spare is not healthy yet";
  spare->healthy = true;
  EXPECT_TRUE(until(w, 10, [&] { return leaver->membership->readyToLeave(); }));
}

TEST(Hubs, AClearlyBetterNodeReplacesTheWorstHub) {
  SimWorld w;
  for (int i = 0; i < 4; ++i) w.add(nodeId(i), 2, int64_t{2} << 30);
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  auto before = w.voters();
  w.rounds(20);
  EXPECT_EQ(w.voters(), before) << "a stable cluster keeps its hubs";
  w.add("big", 8, int64_t{16} << 30);
  ASSERT_TRUE(until(w, 80, [&] {
    auto v = w.voters();
    return v.size() == 3 && std::find(v.begin(), v.end(), "big") != v.end();
  })) << "voters: " << w.voters().size();
  w.rounds(20);
  EXPECT_EQ(w.voters().size(), 3u);
  bool promoted_logged = false;
  for (SimNode* n : w.live())
    for (const auto& e : n->events) promoted_logged |= e == "hub.promoted";
  EXPECT_TRUE(promoted_logged);
}

TEST(Hubs, ANodeOnlySlightlyBetterDoesNotReplaceAHub) {
  SimWorld w;
  for (int i = 0; i < 3; ++i) w.add(nodeId(i), 2, int64_t{4} << 30);
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  w.add(nodeId(3), 2, (int64_t{4} << 30) + (int64_t{200} << 20));  // 5 % more memory
  w.rounds(60);
  auto v = w.voters();
  EXPECT_EQ(v, (std::vector<std::string>{nodeId(0), nodeId(1), nodeId(2)}));
  // Round trips are measured with the simulated clock, so latency is equal everywhere however slow
  // the machine running the simulation: only the 5 % of memory tells the nodes apart.
  for (const auto& m : w.find(nodeId(0))->membership->status().members)
    EXPECT_EQ(m.facts.hub_rtt_ms, 0.0) << m.id;
}

TEST(Hubs, TwoOfThreeHubsDeadUnderWaitKeepTheContainersAndComeBack) {
  SimWorld w;
  w.setSpec(simpleSpec(1, 4));
  for (int i = 0; i < 4; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3 && placedTotal(w, "app-0") == 4; }));
  auto voters = w.voters();
  std::string worker;
  for (SimNode* n : w.live())
    if (std::find(voters.begin(), voters.end(), n->id) == voters.end()) worker = n->id;
  auto kept = w.find(worker)->containers;
  w.crash(voters[1]);
  w.crash(voters[2]);
  w.rounds(60);  // 30 s: far past the lease TTL
  EXPECT_EQ(w.etcd.votersOf(voters[0]), voters) << "under wait, no member is removed without a quorum";
  EXPECT_EQ(w.find(worker)->containers, kept) << "a node cut off from the hubs keeps running what it has";
  EXPECT_TRUE(w.find(worker)->membership->settled());
  w.restart(voters[1]);
  w.restart(voters[2]);
  EXPECT_TRUE(until(w, 80, [&] { return w.voters().size() == 3 && w.clusters().size() == 1 && placedTotal(w, "app-0") == 4; }));
}

// Four of five hubs die; they come back one at a time, far apart. The first back can't make a
// quorum alone: it must keep its etcd data (a vote) rather than originate a cluster of its own or
// join another, or the cluster could never have its quorum back. Once the second is back, the
// first three form the quorum, with the data written before.
TEST(Hubs, AHubBackAloneHoldsItsVoteUntilTheQuorumIsBack) {
  SimWorld w;
  w.setSpec(simpleSpec(1, 2));
  for (int i = 0; i < 7; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 120, [&] { return w.voters().size() == 5 && w.clusters().size() == 1; }));
  const std::string id = *w.clusters().begin();
  auto voters = w.voters();
  auto kv = w.etcd.store(voters[0], {SimEtcd::clientUrl(voters[0])});
  ASSERT_TRUE(kv->put("/test/canary", "before"));
  for (int i = 1; i < 5; ++i) w.crash(voters[i]);
  w.rounds(40);
  w.restart(voters[1]);
  w.rounds(120);  // 60 s: past failed joins, the ignore period and formation's waits
  SimNode* first = w.find(voters[1]);
  EXPECT_TRUE(w.etcd.runningForTest(voters[1])) << "its etcd runs on its data, a vote ready to count";
  for (const auto& e : first->events) EXPECT_NE(e, "cluster.originated") << "it left its cluster's data";
  w.restart(voters[2]);
  EXPECT_TRUE(until(w, 120, [&] { return w.clusters() == std::set<std::string>{id}; }))
      << "the three hubs back form the quorum again";
  w.restart(voters[3]);
  w.restart(voters[4]);
  EXPECT_TRUE(until(w, 200, [&] { return w.voters().size() == 5 && w.clusters() == std::set<std::string>{id}; }));
  auto got = w.etcd.store(voters[1], {SimEtcd::clientUrl(voters[1])})->get("/test/canary");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(*got) << "the data written before the outage is there";
}

// A voter's machine comes back with its etcd data gone (a new disk): it can't start as the voter
// etcd still lists. The leader removes that voter once its node has run no etcd for 30 s, and the
// node becomes a hub again through a learner slot, with a fresh copy of the data.
TEST(Hubs, AVoterBackWithoutItsDataIsRemovedAndAddedAgain) {
  SimWorld w;
  w.setSpec(simpleSpec(1, 3));
  for (int i = 0; i < 3; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  auto voters = w.voters();
  std::string lost = voters[2] == w.leader() ? voters[1] : voters[2];
  w.crash(lost);
  ASSERT_TRUE(w.find(lost)->hub->dissolve());
  w.restart(lost);
  EXPECT_TRUE(until(w, 200, [&] {
    auto v = w.voters();
    return v.size() == 3 && std::find(v.begin(), v.end(), lost) != v.end() && w.etcd.runningForTest(lost);
  })) << "the node is a voter again, its etcd running";
  auto& ev = w.find(w.leader())->events;
  EXPECT_NE(std::find(ev.begin(), ev.end(), "hub.removed"), ev.end());
}

// The leader removes a hub's etcd member and adds the node back as a learner before the node reads
// its hub record in between. (Seen end to end: a leader removed its own member, the record's
// removal failed with its etcd, and the next round dropped the record and added the node again.)
// The node finds a record naming a new member: it drops the removed member's data and joins as the
// new one, rather than go on counting itself a hub with no etcd running.
TEST(Hubs, AHubRemovedAndAddedBackBetweenTwoReadsJoinsAsTheNewMember) {
  SimWorld w;
  for (int i = 0; i < 3; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  auto voters = w.voters();
  std::string leader = w.leader();
  std::string x = voters[0] == leader ? voters[1] : voters[0];
  std::vector<std::string> urls{SimEtcd::clientUrl(leader)};
  auto admin = w.etcd.admin(leader, urls);
  auto members = admin->members();
  ASSERT_TRUE(members) << members.error().message;
  uint64_t old_id = 0;
  for (const auto& m : *members)
    if (m.name == x) old_id = m.id;
  ASSERT_NE(old_id, 0u);
  ASSERT_TRUE(admin->remove(old_id));
  auto added = admin->addLearner(SimEtcd::peerUrl(x));
  ASSERT_TRUE(added) << added.error().message;
  auto all = admin->members();
  ASSERT_TRUE(all) << all.error().message;
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(w.clock.now().time_since_epoch()).count();
  HubRecord again{x, added->id, SimEtcd::peerUrl(x), false, initialCluster(*all, x, SimEtcd::peerUrl(x)), now_ms};
  ASSERT_TRUE(w.etcd.store(leader, urls)->put(kHubsPrefix + x, hubToJson(again)));
  ASSERT_FALSE(w.etcd.runningForTest(x)) << "a removed member's etcd exits";

  // Within 20 s of simulated time: the leader gives up on a learner only after learner_timeout
  // (60 s), and a node that waits that long for its successor has been stopped by then.
  EXPECT_TRUE(until(w, 40, [&] {
    auto v = w.voters();
    return v.size() == 3 && std::find(v.begin(), v.end(), x) != v.end() && w.etcd.runningForTest(x);
  })) << "the node is a voter again, as the new member";
  auto& ev = w.find(x)->events;
  EXPECT_NE(std::find(ev.begin(), ev.end(), "hub.readded"), ev.end());
}

// SimEtcd, like etcd's strict reconfiguration check, refuses to remove a voter when the voters
// left would not have a quorum of active members: with one of three cut off, removing another
// would leave one active voter of two.
TEST(Hubs, SimEtcdRefusesARemovalThatWouldLeaveNoActiveQuorum) {
  SimWorld w;
  for (int i = 0; i < 3; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  auto voters = w.voters();
  w.setGroup(voters[2], 1);  // cut off from the other two
  std::vector<std::string> urls{SimEtcd::clientUrl(voters[0]), SimEtcd::clientUrl(voters[1])};
  auto admin = w.etcd.admin(voters[0], urls);
  auto members = admin->members();
  ASSERT_TRUE(members) << members.error().message;
  uint64_t second = 0;
  for (const auto& m : *members)
    if (m.name == voters[1]) second = m.id;
  auto refused = admin->remove(second);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "etcdserver: unhealthy cluster");
  EXPECT_TRUE(refused.error().retryable);
  w.heal();
  EXPECT_TRUE(admin->remove(second)) << "with all three active, two are left active";
}

// A hub's machine comes back without its data, cut off, and originates a cluster of its own at the
// address the others list as one of their hubs. When the network heals, no member of the first
// cluster registers in the new one: they drop that endpoint and go on through the other hubs, and
// the one-node cluster merges into theirs.
TEST(Hubs, MembersDropAHubAddressThatNowServesAnotherCluster) {
  SimWorld w;
  for (int i = 0; i < 5; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 120, [&] { return w.voters().size() == 3 && w.clusters().size() == 1; }));
  const std::string id = *w.clusters().begin();
  auto voters = w.voters();
  // The lowest id: the first of every member's store endpoints (they list the hubs in id order).
  std::string moved = *std::min_element(voters.begin(), voters.end());
  w.crash(moved);
  ASSERT_TRUE(w.find(moved)->hub->dissolve());
  w.setGroup(moved, 1);
  w.restart(moved);
  ASSERT_TRUE(until(w, 120, [&] {
    auto s = w.find(moved)->membership->status();
    return s.cluster && s.cluster->id != id;
  })) << "alone, it originates another cluster";
  w.heal();
  for (int i = 0; i < 6; ++i) {
    w.rounds(1);
    auto nodes = w.etcd.store(moved, {SimEtcd::clientUrl(moved)})->list("/shoal/nodes/");
    if (!nodes) continue;  // dissolved into the first cluster meanwhile
    for (const auto& kv : *nodes) EXPECT_EQ(kv.key, "/shoal/nodes/" + moved) << "registered in the other cluster";
  }
  EXPECT_TRUE(until(w, 120, [&] { return w.clusters() == std::set<std::string>{id} && w.voters().size() == 3; }));
}

TEST(Hubs, TwoOfThreeHubsDeadUnderRecoverAfterTheSurvivorRestartsTheCluster) {
  SimWorld w;
  Spec spec = simpleSpec(1, 3);
  spec.cluster.quorum_loss = QuorumLoss::kRecover;
  spec.cluster.recover_after = Duration(10000);
  w.setSpec(spec);
  for (int i = 0; i < 5; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3; }));
  auto voters = w.voters();
  auto kv = w.etcd.store(voters[0], {SimEtcd::clientUrl(voters[0])});
  ASSERT_TRUE(kv->put("/test/canary", "before"));
  w.crash(voters[1]);
  w.crash(voters[2]);
  w.rounds(10);
  EXPECT_EQ(w.etcd.votersOf(voters[0]).size(), 3u) << "not before recover_after";
  // After recover_after, the survivor restarts etcd alone; the leader then grows the hubs to 3
  // again among the 3 nodes left.
  EXPECT_TRUE(until(w, 200, [&] {
    auto v = w.voters();
    return v.size() == 3 && std::find(v.begin(), v.end(), voters[1]) == v.end() &&
           std::find(v.begin(), v.end(), voters[2]) == v.end();
  })) << "voters: " << w.voters().size();
  auto got = kv->get("/test/canary");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "before");
  EXPECT_TRUE(until(w, 40, [&] { return placedTotal(w, "app-0") == 3; }));
}

TEST(Hubs, ANewLeaderIsElectedWhenTheLeaderDies) {
  SimWorld w;
  w.setSpec(simpleSpec(1, 2));
  for (int i = 0; i < 5; ++i) w.add(nodeId(i));
  ASSERT_TRUE(until(w, 80, [&] { return w.voters().size() == 3 && !w.leader().empty(); }));
  std::string old = w.leader();
  w.crash(old);
  EXPECT_TRUE(until(w, 80, [&] { return !w.leader().empty() && w.leader() != old; }));
  EXPECT_TRUE(until(w, 80, [&] { return w.voters().size() == 3 && placedTotal(w, "app-0") == 2; }));
}

TEST(Hubs, RoleHoldersRunTheRoleBoundApps) {
  SimWorld w;
  Spec spec = simpleSpec(0, 0);
  RoleSpec ingress;
  ingress.name = "ingress";
  ingress.count.table = {{1, 1}, {3, 2}};
  ingress.forbid = {{"tier", "backend"}};
  spec.cluster.roles.push_back(ingress);
  AppSpec proxy;
  proxy.name = "proxy";
  proxy.file = "apps/proxy.yaml";
  proxy.image = "sim";
  proxy.role = "ingress";
  spec.apps.push_back(proxy);
  w.setSpec(spec);
  w.add(nodeId(0), 2, int64_t{4} << 30, {{"tier", "backend"}});
  w.add(nodeId(1));
  w.add(nodeId(2));
  w.add(nodeId(3));
  ASSERT_TRUE(until(w, 80, [&] { return placedTotal(w, "proxy") == 2; }));
  EXPECT_EQ(w.find(nodeId(0))->containers.count("proxy"), 0u) << "forbidden by its label";
  auto holders = w.find(nodeId(1))->membership->status().roles["ingress"];
  EXPECT_EQ(holders.size(), 2u);
  for (const auto& h : holders) EXPECT_EQ(w.find(h)->containers["proxy"], 1) << h;
}

}  // namespace
}  // namespace shoal::sim
