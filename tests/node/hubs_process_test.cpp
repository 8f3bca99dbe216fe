// Several hubs with real etcd: `shoal` nodes as processes on 127.0.0.1 (simulated runtime, real
// etcd 3.4, mTLS and git), where the elected leader grows and shrinks the etcd voters one step at
// a time, replaces a hub that died or left, and spreads replicas. What the leader decided is read
// from each node's /v1/status (`cluster.leader`, `hubs`, `placement`). Growth steps wait out etcd's
// 5 s reconfiguration check, so the deadlines are generous; durations are printed, not asserted.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "tests/harness/harness.h"
#include "tests/node/process_cluster.h"

namespace shoal::testing {
namespace {

using std::chrono::seconds;

class HubsProcessTest : public ProcessClusterTest {
 protected:
  HubsProcessTest() { spec_.commit({{"cluster.yaml", "name: " + uniqueName() + "\n"}}, "spec"); }

  // The nodes this node's status lists as etcd voters.
  static std::set<std::string> voterIds(const Node& n) {
    std::set<std::string> out;
    json st = status(n);
    if (!st.contains("cluster") || !st["cluster"].contains("hubs")) return out;
    for (const auto& h : st["cluster"]["hubs"])
      if (h.value("state", "") == "voter") out.insert(h.value("node", ""));
    return out;
  }
  // Every node of `nodes` lists exactly the voters `ids`, and each of them says it is a hub.
  bool votersAre(const std::vector<Node*>& nodes, const std::set<std::string>& ids) {
    for (Node* n : nodes) {
      if (voterIds(*n) != ids) return false;
      if (ids.contains(nodeId(*n)) != isHub(*n)) return false;
    }
    return true;
  }
  // Every node of `nodes` sees `count` voters, all of them among `nodes`.
  bool votersAmong(const std::vector<Node*>& nodes, size_t count) {
    std::set<std::string> alive;
    for (Node* n : nodes) alive.insert(nodeId(*n));
    auto ids = voterIds(*nodes[0]);
    if (ids.size() != count) return false;
    for (const auto& id : ids)
      if (!alive.contains(id)) return false;
    return votersAre(nodes, ids);
  }

  // Four nodes form one cluster with three voters (the default table for 3-6 nodes).
  void formFourWithThreeHubs() {
    for (int i = 0; i < 4; ++i) add();
    publishPeers({{"peers.txt", all()}});
    for (auto& n : nodes_) n->process->start();
    ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 4); }, seconds(30))) << dump();
    auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(waitFor([&] { return votersAmong(all(), 3); }, seconds(60))) << dump();
    report("4 nodes formed -> 3 voters", started);
  }

  // A node of `nodes` that is a hub (or not) and not the leader.
  Node* pick(const std::vector<Node*>& nodes, bool hub) {
    std::string leader = leaderOf(*nodes[0]);
    for (Node* n : nodes)
      if (isHub(*n) == hub && nodeId(*n) != leader) return n;
    return nullptr;
  }

  static void report(const std::string& what, std::chrono::steady_clock::time_point since) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
    std::printf("[ timing   ] %s: %.1f s\n", what.c_str(), s);
    ::testing::Test::RecordProperty(what, std::to_string(s));
  }

  // Replicas of `app` per node of `nodes` (-1 where a node does not answer or list it).
  std::vector<int> replicas(const std::vector<Node*>& nodes, const std::string& app) {
    std::vector<int> out;
    for (Node* n : nodes) out.push_back(running(*n, app));
    return out;
  }
  // `total` replicas of `app` run on `nodes`, at most one per node.
  bool spreadOne(const std::vector<Node*>& nodes, const std::string& app, int total) {
    int sum = 0;
    for (int r : replicas(nodes, app)) {
      if (r < 0 || r > 1) return false;
      sum += r;
    }
    return sum == total;
  }
};

TEST_F(HubsProcessTest, OneNodeThenThreeGrowTheVotersToThreeAndKeepTheCluster) {
  for (int i = 0; i < 3; ++i) add();
  publishPeers({{"peers.txt", all()}});
  nodes_[0]->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster({nodes_[0].get()}, 1); }, seconds(30))) << dump();
  ASSERT_TRUE(waitFor([&] { return votersAre({nodes_[0].get()}, {nodeId(*nodes_[0])}); }, seconds(10))) << dump();
  std::string id = clusterId(*nodes_[0]);
  EXPECT_TRUE(waitFor([&] { return leaderOf(*nodes_[0]) == nodeId(*nodes_[0]); }, seconds(10))) << dump();

  auto started = std::chrono::steady_clock::now();
  nodes_[1]->process->start();
  nodes_[2]->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(30))) << dump();
  report("1 -> 3 nodes: one cluster", started);
  EXPECT_TRUE(waitFor([&] { return votersAmong(all(), 3); }, seconds(60))) << dump();
  report("1 -> 3 nodes: 3 voters", started);
  // The store moved onto three etcd members and kept its keys: the same cluster, one leader.
  for (Node* n : all()) {
    json c = status(*n)["cluster"];
    EXPECT_EQ(c.value("id", ""), id);
    EXPECT_EQ(c.value("leader", ""), nodeId(*nodes_[0]));
    EXPECT_EQ(c["store_endpoints"].size(), 3u) << c.dump(2);
  }
}

TEST_F(HubsProcessTest, AHubKilledIsRemovedAndAnotherNodePromoted) {
  formFourWithThreeHubs();
  if (HasFatalFailure()) return;
  Node* victim = pick(all(), true);
  ASSERT_NE(victim, nullptr) << dump();
  std::string gone = nodeId(*victim);
  auto started = std::chrono::steady_clock::now();
  victim->process->kill9();  // etcd dies with it (PDEATHSIG)
  std::vector<Node*> rest = allBut(victim);
  // Its lease expires (3 s), the leader removes its etcd member and adds the fourth node.
  EXPECT_TRUE(waitFor([&] { return oneCluster(rest, 3); }, seconds(20))) << dump();
  EXPECT_TRUE(waitFor([&] { return votersAmong(rest, 3); }, seconds(60))) << dump();
  report("hub killed -> 3 voters again", started);
  EXPECT_FALSE(voterIds(*rest[0]).contains(gone));
}

TEST_F(HubsProcessTest, AHubStoppedHandsItsRoleOverAndExitsZero) {
  formFourWithThreeHubs();
  if (HasFatalFailure()) return;
  Node* leaver = pick(all(), true);
  ASSERT_NE(leaver, nullptr) << dump();
  std::string gone = nodeId(*leaver);
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(leaver->process->stop(), 0) << leaver->process->log();
  report("hub SIGTERM -> exit", started);
  std::vector<Node*> rest = allBut(leaver);
  EXPECT_TRUE(waitFor([&] { return oneCluster(rest, 3); }, seconds(20))) << dump();
  EXPECT_TRUE(waitFor([&] { return votersAmong(rest, 3); }, seconds(30))) << dump();
  report("hub SIGTERM -> 3 voters again", started);
  EXPECT_FALSE(voterIds(*rest[0]).contains(gone));
  // Normally the leader hands the role over (adds a learner, promotes it, removes the leaver)
  // within node.cpp's 7 s; when the stop comes right after a promotion, etcd refuses the add for
  // up to 5 s and the leaving hub may have to take itself out of the voters instead ("hub.left").
  // Either way the cluster keeps three voters; which one happened is printed, not asserted.
  bool fallback = leaver->process->log().find("hub.left") != std::string::npos;
  std::printf("[ handover ] %s\n", fallback ? "the leaving hub left the voters itself (handover timed out)"
                                             : "handed over by the leader");
}

TEST_F(HubsProcessTest, SpreadReplicasRunOnDifferentNodesAndMoveWhenOneDies) {
  formFourWithThreeHubs();
  if (HasFatalFailure()) return;
  // The app arrives in a formed cluster: three replicas on three of the four nodes.
  spec_.commit({{"apps/web.yaml", "build: web\nreplicas: 3\n"}, {"web/Dockerfile", "FROM shoal/busybox:local\n"}},
               "web");
  ASSERT_TRUE(waitFor([&] { return spreadOne(all(), "web", 3); }, seconds(30))) << dump();
  // The leader's placement says the same.
  json placed = status(*nodes_[0])["cluster"]["placement"]["web"];
  EXPECT_EQ(placed["nodes"].size(), 3u) << placed.dump(2);
  EXPECT_EQ(placed["missing"], 0);

  Node* victim = nullptr;
  std::string leader = leaderOf(*nodes_[0]);
  for (Node* n : all())
    if (running(*n, "web") == 1 && nodeId(*n) != leader) victim = n;
  ASSERT_NE(victim, nullptr) << dump();
  auto started = std::chrono::steady_clock::now();
  victim->process->kill9();
  std::vector<Node*> rest = allBut(victim);
  // Within the lease TTL and a few rounds the replica runs on the node that had none.
  EXPECT_TRUE(waitFor([&] { return spreadOne(rest, "web", 3); }, seconds(30))) << dump();
  report("replica node killed -> 3 replicas again", started);
}

// Nodes started together: the origin forms the cluster alone for a moment before the others join.
// The leader waits until the members hold still before it first places a new spread app, so the
// replicas are spread rather than all left on the origin (placement does not move them later).
TEST_F(HubsProcessTest, SpreadReplicasPlacedWhileTheOriginWasAloneSpreadOnceOthersJoin) {
  spec_.commit({{"apps/web.yaml", "build: web\nreplicas: 3\n"}, {"web/Dockerfile", "FROM shoal/busybox:local\n"}},
               "web");
  for (int i = 0; i < 3; ++i) add();
  publishPeers({{"peers.txt", all()}});
  for (auto& n : nodes_) n->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(30))) << dump();
  EXPECT_TRUE(waitFor([&] { return spreadOne(all(), "web", 3); }, seconds(30)))
      << status(*nodes_[0])["cluster"].dump(2);
}

}  // namespace
}  // namespace shoal::testing
