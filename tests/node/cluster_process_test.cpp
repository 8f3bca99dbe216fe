// Several `shoal` nodes as processes on 127.0.0.1 with the simulated runtime and real etcd, real
// mTLS and real git: forming, joining, leaving, a crash and lease expiry, min_nodes across the
// cluster, the origin restarted, and two clusters that meet and merge. Discovery is a git source
// (a peers file the test rewrites), so the test decides who can see whom.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/harness/harness.h"
#include "tests/harness/net_servers.h"
#include "tests/node/process_cluster.h"

namespace shoal::testing {
namespace {

using nlohmann::json;

class ClusterProcessTest : public ProcessClusterTest {
 protected:
  ClusterProcessTest() {
    spec_.commit({{"cluster.yaml", "name: " + uniqueName() + "\nmin_nodes: 3\nbelow_min: pause\n"},
                  {"apps/agent.yaml", "build: agent\nplacement: every-node\n"},
                  {"apps/web.yaml", "build: agent\nreplicas: 2\n"},
                  {"agent/Dockerfile", "FROM shoal/busybox:local\n"}},
                 "spec");
  }
};

using std::chrono::seconds;

TEST_F(ClusterProcessTest, ThreeFormOneClusterAFourthJoinsOneLeavesOneCrashes) {
  for (int i = 0; i < 4; ++i) add();
  publishPeers({{"peers.txt", all()}});
  for (int i = 0; i < 3; ++i) nodes_[i]->process->start();
  std::vector<Node*> three{nodes_[0].get(), nodes_[1].get(), nodes_[2].get()};
  ASSERT_TRUE(waitFor([&] { return oneCluster(three, 3); }, seconds(30))) << dump();

  // Every member lists the same three with their facts; at least the origin is a hub.
  int hubs = 0;
  json listed = getJson(*nodes_[1], "/v1/nodes").value_or(json::array());
  for (const auto& m : listed) {
    hubs += m["hub"].get<bool>();
    EXPECT_GT(m["facts"]["cpus"].get<int>(), 0);
    EXPECT_GT(m["facts"]["memory_bytes"].get<int64_t>(), 0);
  }
  EXPECT_GE(hubs, 1);
  // Three nodes: the leader grows the etcd voters to three (the default hub table), one step at a
  // time, each waiting out etcd's 5 s reconfiguration check.
  ASSERT_TRUE(waitFor([&] { return voters(*nodes_[1]) == 3; }, seconds(60))) << dump();

  nodes_[3]->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 4); }, seconds(20))) << dump();

  // One node checks the spec repo for the cluster; a push still reaches every node.
  int checkers = 0;
  for (Node* n : all()) checkers += status(*n)["cluster"]["spec_checker"].get<bool>();
  EXPECT_EQ(checkers, 1);
  std::string pushed = spec_.commit({{"apps/agent.yaml", "build: agent\nplacement: every-node\nenv: {V: \"2\"}\n"}}, "v2");
  for (Node* n : all())
    EXPECT_TRUE(waitFor([&] { return status(*n)["spec"]["applied_commit"] == pushed; }, seconds(20)))
        << status(*n).dump(2);

  // SIGTERM of the one node that is not a hub (four nodes keep three): the lease is revoked, the
  // others drop it long before the 3 s TTL would.
  Node* leaver = nullptr;
  ASSERT_TRUE(waitFor(
      [&] {
        int non_hubs = 0;
        for (Node* n : all())
          if (!isHub(*n)) ++non_hubs, leaver = n;
        return non_hubs == 1;
      },
      seconds(20)))
      << dump();
  EXPECT_EQ(leaver->process->stop(), 0);
  std::vector<Node*> rest = allBut(leaver);
  EXPECT_TRUE(waitFor([&] { return oneCluster(rest, 3); }, seconds(20))) << dump();

  // kill -9 of a node that is not the leader (a hub: all three are): no goodbye, the lease
  // expires, and the leader takes its etcd member out.
  std::string leader = leaderOf(*rest[0]);
  Node* crasher = nullptr;
  for (Node* n : rest)
    if (nodeId(*n) != leader) crasher = n;
  ASSERT_NE(crasher, nullptr);
  crasher->process->kill9();
  std::vector<Node*> two;
  for (Node* n : rest)
    if (n != crasher) two.push_back(n);
  EXPECT_TRUE(waitFor([&] { return oneCluster(two, 2); }, seconds(20))) << dump();
}

TEST_F(ClusterProcessTest, MinNodesActivatesAppsWithTheThirdNodeAndPausesWhenOneLeaves) {
  for (int i = 0; i < 3; ++i) add();
  publishPeers({{"peers.txt", all()}});
  nodes_[0]->process->start();
  nodes_[1]->process->start();
  std::vector<Node*> two{nodes_[0].get(), nodes_[1].get()};
  ASSERT_TRUE(waitFor([&] { return oneCluster(two, 2); }, seconds(30))) << dump();
  EXPECT_TRUE(waitFor([&] { return status(*nodes_[0])["cluster"]["apps"] == "pause"; }, seconds(10)));

  nodes_[2]->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(20))) << dump();
  // Every node runs the every-node app; web's two replicas run (placed by the leader: spread is
  // the default). Where they run depends on who was in the cluster when the spec first loaded:
  // replicas placed while the origin was alone stay on it (no churn on join, see
  // hubs_process_test's SpreadReplicasPlacedWhileTheOriginWasAlone...), so only the total is
  // checked here.
  for (Node* n : all()) {
    EXPECT_TRUE(waitFor([&] { return status(*n)["cluster"]["apps"] == "run" && running(*n, "agent") == 1; },
                        seconds(15)))
        << status(*n).dump(2);
  }
  auto web = [&] {
    int total = 0;
    for (Node* n : all()) {
      int r = running(*n, "web");
      if (r < 0) return false;
      total += r;
    }
    return total == 2;
  };
  EXPECT_TRUE(waitFor(web, seconds(15))) << status(*nodes_[0]).dump(2);

  // Any node leaving takes the cluster below min_nodes: the two left pause. (Not the leader, so
  // that this is about min_nodes and not about electing another one.)
  std::string leader = leaderOf(*nodes_[0]);
  Node* leaver = nullptr;
  for (Node* n : all())
    if (nodeId(*n) != leader) leaver = n;
  ASSERT_NE(leaver, nullptr);
  EXPECT_EQ(leaver->process->stop(), 0);
  for (Node* n : allBut(leaver)) {
    EXPECT_TRUE(waitFor([&] { return status(*n)["cluster"]["apps"] == "pause"; }, seconds(15)))
        << status(*n).dump(2);
  }
}

// Two nodes keep one hub (the default table): the origin is the only etcd member, so killed and
// restarted it must come back from its own data, as the same cluster's hub.
TEST_F(ClusterProcessTest, TheOriginKilledAndRestartedReturnsAsHubOfTheSameCluster) {
  for (int i = 0; i < 2; ++i) add();
  publishPeers({{"peers.txt", all()}});
  for (auto& n : nodes_) n->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 2); }, seconds(30))) << dump();
  std::string id = clusterId(*nodes_[0]);
  Node* origin = nullptr;
  for (Node* n : all())
    if (isHub(*n)) origin = n;
  ASSERT_NE(origin, nullptr);
  origin->process->kill9();  // etcd dies with it (PDEATHSIG)
  origin->process->start();
  EXPECT_TRUE(waitFor([&] { return oneCluster(all(), 2); }, seconds(30))) << dump();
  EXPECT_EQ(clusterId(*origin), id);
  EXPECT_TRUE(waitFor([&] { return isHub(*origin); }, seconds(10))) << status(*origin).dump(2);
}

TEST_F(ClusterProcessTest, TwoClustersThatMeetMergeIntoTheLarger) {
  for (int i = 0; i < 2; ++i) add("a.txt");
  for (int i = 0; i < 3; ++i) add("b.txt");
  std::vector<Node*> a{nodes_[0].get(), nodes_[1].get()};
  std::vector<Node*> b{nodes_[2].get(), nodes_[3].get(), nodes_[4].get()};
  publishPeers({{"a.txt", a}, {"b.txt", b}});
  for (auto& n : nodes_) n->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(a, 2) && oneCluster(b, 3); }, seconds(30))) << dump();
  std::string big = clusterId(*b[0]);
  ASSERT_NE(clusterId(*a[0]), big);
  publishPeers({{"a.txt", all()}, {"b.txt", all()}});  // they meet
  EXPECT_TRUE(waitFor([&] { return oneCluster(all(), 5); }, seconds(60))) << dump();
  EXPECT_EQ(clusterId(*a[0]), big) << "the smaller cluster dissolved into the larger";
}

// The url source against an HTTP server the test runs: it serves the peers file.
TEST_F(ClusterProcessTest, UrlDiscoveryFormsOneCluster) {
  std::vector<int> ports{freePort(), freePort(), freePort()};
  std::string file;
  for (int p : ports) file += "127.0.0.1:" + std::to_string(p) + "\n";
  HttpServer server({{"/peers.txt", {200, file}}});
  for (size_t i = 0; i < ports.size(); ++i) add("", "    - url: " + server.url("/peers.txt") + "\n");
  // The nodes were made with free ports of their own: use the served ones instead.
  for (size_t i = 0; i < nodes_.size(); ++i) rewritePeerPort(*nodes_[i], ports[i]);
  for (auto& n : nodes_) n->process->start();
  EXPECT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(30))) << dump();
}

// The dns source against a DNS responder the test runs: SRV records give each node's port.
TEST_F(ClusterProcessTest, DnsSrvDiscoveryFormsOneCluster) {
  std::vector<int> ports{freePort(), freePort(), freePort()};
  std::map<std::string, ZoneEntry> zone;
  std::vector<SrvRecord> srv;
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string target = "n" + std::to_string(i) + ".shoal.test";
    srv.push_back({0, 10, static_cast<uint16_t>(ports[i]), target});
    zone[target] = ZoneEntry{.a = {"127.0.0.1"}};
  }
  zone["shoal.test"] = ZoneEntry{.srv = srv};
  DnsServer dns(zone);
  for (size_t i = 0; i < ports.size(); ++i) add("", "    - dns: shoal.test\n      server: " + dns.server() + "\n");
  for (size_t i = 0; i < nodes_.size(); ++i) rewritePeerPort(*nodes_[i], ports[i]);
  for (auto& n : nodes_) n->process->start();
  EXPECT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(30))) << dump();
}

}  // namespace
}  // namespace shoal::testing
