// Several `shoal` nodes as processes on 127.0.0.1 with the simulated runtime and real etcd, real
// mTLS and real git: forming, joining, leaving, a crash and lease expiry, min_nodes across the
// cluster, the origin restarted, and two clusters that meet and merge. Discovery is a git source
// (a peers file the test rewrites), so the test decides who can see whom.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/harness/harness.h"
#include "tests/harness/net_servers.h"

namespace shoal::testing {
namespace {

using nlohmann::json;

class ClusterProcessTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<NodeProcess> process;
    int peer_port = 0;
    std::string peers_file;  // which discovery file it reads
  };

  ClusterProcessTest() : pki_(tmp_.path() + "/pki"), spec_(tmp_.path() + "/spec"), peers_(tmp_.path() + "/peers") {
    spec_.commit({{"cluster.yaml", "name: " + uniqueName() + "\nmin_nodes: 3\nbelow_min: pause\n"},
                  {"apps/agent.yaml", "build: agent\nplacement: every-node\n"},
                  {"apps/web.yaml", "build: agent\nreplicas: 2\n"},
                  {"agent/Dockerfile", "FROM shoal/busybox:local\n"}},
                 "spec");
  }

  // Adds a node reading `peers_file` of the peers repo (or the sources in `discovery_yaml`, a
  // list of `    - ...` lines); not started.
  Node& add(const std::string& peers_file = "peers.txt", const std::string& discovery_yaml = "") {
    auto n = std::make_unique<Node>();
    n->peer_port = freePort();
    n->peers_file = peers_file;
    std::string dir = tmp_.path() + "/n" + std::to_string(nodes_.size());
    sh("mkdir -p " + dir);
    NodeProcess::Options o;
    o.dir = dir;
    o.spec_repo = spec_.bare();
    o.pki_dir = pki_.dir;
    o.extra_yaml = "runtime: sim\n"
                   "cluster:\n  listen: 127.0.0.1\n  advertise: 127.0.0.1\n  port: " +
                   std::to_string(n->peer_port) +
                   "\n  stable_for: 1s\n  probe_interval: 300ms\n  lease_ttl: 3s\n"
                   "  etcd:\n    client_port: " + std::to_string(freePort()) +
                   "\n    peer_port: " + std::to_string(freePort()) +
                   "\ndiscovery:\n  timeout: 1s\n  sources:\n" +
                   (discovery_yaml.empty() ? "    - git: " + peers_.bare() + "\n      path: " + peers_file + "\n"
                                           : discovery_yaml);
    n->process = std::make_unique<NodeProcess>(o);
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // Moves a node (not started) to another peer port in its node.yaml.
  static void rewritePeerPort(Node& n, int port) {
    std::string yaml = readFile(n.process->nodeYaml());
    std::string from = "  port: " + std::to_string(n.peer_port) + "\n";
    yaml.replace(yaml.find(from), from.size(), "  port: " + std::to_string(port) + "\n");
    writeFile(n.process->nodeYaml(), yaml);
    n.peer_port = port;
  }

  // Writes each peers file listing the peer endpoints of `nodes`.
  void publishPeers(const std::map<std::string, std::vector<Node*>>& files) {
    std::map<std::string, std::optional<std::string>> out;
    for (const auto& [file, nodes] : files) {
      std::string text;
      for (Node* n : nodes) text += "127.0.0.1:" + std::to_string(n->peer_port) + "\n";
      out[file] = text;
    }
    peers_.commit(out, "peers");
  }

  static std::optional<json> getJson(const Node& n, const std::string& path) {
    auto r = n.process->get(path);
    if (!r || r->status != 200) return std::nullopt;
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  static int members(const Node& n) {
    auto j = getJson(n, "/v1/nodes");
    return j && j->is_array() ? static_cast<int>(j->size()) : -1;
  }
  static std::string clusterId(const Node& n) {
    auto j = getJson(n, "/v1/status");
    if (!j || !(*j)["cluster"].contains("id")) return "";
    return (*j)["cluster"]["id"];
  }
  static json status(const Node& n) { return getJson(n, "/v1/status").value_or(json::object()); }

  // Every node in `nodes` sees the same cluster of exactly `size` members.
  bool oneCluster(const std::vector<Node*>& nodes, int size) {
    std::string id = clusterId(*nodes[0]);
    if (id.empty()) return false;
    for (Node* n : nodes)
      if (clusterId(*n) != id || members(*n) != size) return false;
    return true;
  }

  std::vector<Node*> all() {
    std::vector<Node*> out;
    for (auto& n : nodes_) out.push_back(n.get());
    return out;
  }

  std::string dump() {
    std::string out;
    for (auto& n : nodes_) out += "---- " + n->process->nodeYaml() + "\n" + n->process->log().substr(0, 200000);
    return out;
  }

  TempDir tmp_;
  Pki pki_;
  SpecRepo spec_;
  SpecRepo peers_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

using std::chrono::seconds;

TEST_F(ClusterProcessTest, ThreeFormOneClusterAFourthJoinsOneLeavesOneCrashes) {
  for (int i = 0; i < 4; ++i) add();
  publishPeers({{"peers.txt", all()}});
  for (int i = 0; i < 3; ++i) nodes_[i]->process->start();
  std::vector<Node*> three{nodes_[0].get(), nodes_[1].get(), nodes_[2].get()};
  ASSERT_TRUE(waitFor([&] { return oneCluster(three, 3); }, seconds(30))) << dump();

  // One hub, the origin; every member lists the same three with their facts.
  int hubs = 0;
  json listed = getJson(*nodes_[1], "/v1/nodes").value_or(json::array());
  for (const auto& m : listed) {
    hubs += m["hub"].get<bool>();
    EXPECT_GT(m["facts"]["cpus"].get<int>(), 0);
    EXPECT_GT(m["facts"]["memory_bytes"].get<int64_t>(), 0);
  }
  EXPECT_EQ(hubs, 1);

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

  // SIGTERM: the lease is revoked, the others drop it long before the 3 s TTL would.
  Node* leaver = nullptr;
  for (Node* n : all())
    if (!status(*n)["cluster"]["hub"].get<bool>()) leaver = n;
  ASSERT_NE(leaver, nullptr);
  EXPECT_EQ(leaver->process->stop(), 0);
  std::vector<Node*> rest;
  for (Node* n : all())
    if (n != leaver) rest.push_back(n);
  EXPECT_TRUE(waitFor([&] { return oneCluster(rest, 3); }, seconds(20))) << dump();

  // kill -9: no goodbye, the lease expires.
  Node* crasher = nullptr;
  for (Node* n : rest)
    if (!status(*n)["cluster"]["hub"].get<bool>()) crasher = n;
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
  // Every node runs the every-node app; only the origin runs web's two replicas.
  auto running = [&](Node& n, const std::string& app) {
    json st = status(n);
    for (const auto& a : st["apps"])
      if (a["name"] == app) return a["replicas"]["running"].get<int>();
    return -1;
  };
  for (Node* n : all()) {
    EXPECT_TRUE(waitFor([&] { return status(*n)["cluster"]["apps"] == "run" && running(*n, "agent") == 1; },
                        seconds(15)))
        << status(*n).dump(2);
    bool origin = status(*n)["cluster"]["hub"].get<bool>();
    EXPECT_TRUE(waitFor([&] { return running(*n, "web") == (origin ? 2 : 0); }, seconds(10))) << status(*n).dump(2);
  }

  Node* leaver = nullptr;
  for (Node* n : all())
    if (!status(*n)["cluster"]["hub"].get<bool>()) leaver = n;
  leaver->process->stop();
  for (Node* n : all()) {
    if (n == leaver) continue;
    EXPECT_TRUE(waitFor([&] { return status(*n)["cluster"]["apps"] == "pause"; }, seconds(15)))
        << status(*n).dump(2);
  }
}

TEST_F(ClusterProcessTest, TheOriginKilledAndRestartedReturnsAsHubOfTheSameCluster) {
  for (int i = 0; i < 3; ++i) add();
  publishPeers({{"peers.txt", all()}});
  for (auto& n : nodes_) n->process->start();
  ASSERT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(30))) << dump();
  std::string id = clusterId(*nodes_[0]);
  Node* origin = nullptr;
  for (Node* n : all())
    if (status(*n)["cluster"]["hub"].get<bool>()) origin = n;
  ASSERT_NE(origin, nullptr);
  origin->process->kill9();  // etcd dies with it (PDEATHSIG)
  origin->process->start();
  EXPECT_TRUE(waitFor([&] { return oneCluster(all(), 3); }, seconds(30))) << dump();
  EXPECT_EQ(clusterId(*origin), id);
  EXPECT_TRUE(status(*origin)["cluster"]["hub"].get<bool>());
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
