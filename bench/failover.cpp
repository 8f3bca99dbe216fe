// bench_failover: how long a spread app misses a replica when the node running it dies, with node
// containers from the real node image on a Docker network of this machine
// (tests/harness/node_containers.h). A cluster of 4 nodes runs `web` (spread, 3 replicas); each
// trial `docker kill`s a node running a replica (not the leader) and measures from the kill until
//   the leader's placement of `web` (cluster.placement in a live node's /v1/status) lists 3
//   replicas, none missing, all on live nodes, and every node it names reports exactly its share
//   running (`apps[web].replicas.running` in that node's own /v1/status).
// The nodes use the simulated runtime (`runtime: sim`): "running" is the node's own report of its
// simulated containers, with no health check. Between trials a new container joins, so that each
// trial starts from 4 nodes with 3 voters. Prints `key: value` lines:
//   lease-ttl-s        the membership lease (a killed node is dropped when it expires)
//   trial-N-s          each trial, with the victim's role
//   failover-median-s  the median of the trials
// Flags: --trials N (5), --lease S (10, the image's default node.yaml).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/node_cluster.h"

using namespace shoal::bench;
using namespace shoal::testing;
using nlohmann::json;

namespace {

constexpr const char* kApp = "web";
constexpr int kReplicas = 3;

int running(const NodeCluster& c, const Node& n) {
  for (const auto& a : c.status(n).value("apps", json::array()))
    if (a.value("name", "") == kApp) return a["replicas"].value("running", -1);
  return -1;
}

// The measured condition (see the top of the file).
bool replicasRunning(const NodeCluster& c) {
  json placed = c.cluster().value("placement", json::object());
  if (!placed.contains(kApp) || placed[kApp].value("missing", -1) != 0) return false;
  int sum = 0;
  json on = placed[kApp].value("nodes", json::object());
  for (const auto& [id, count] : on.items()) {
    auto it = std::find_if(c.live().begin(), c.live().end(), [&](const Node& n) { return n.id == id; });
    if (it == c.live().end() || running(c, *it) != count.get<int>()) return false;
    sum += count.get<int>();
  }
  return sum == kReplicas;
}

// A live node with a replica of the app, not the leader; nullptr when none.
const Node* victimOf(const NodeCluster& c) {
  json cl = c.cluster();
  std::string leader = cl.value("leader", "");
  json placed = cl.value("placement", json::object()).value(kApp, json::object()).value("nodes", json::object());
  for (const auto& n : c.live())
    if (n.id != leader && placed.value(n.id, 0) > 0) return &n;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 5;
  std::string lease = "10";
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--trials") trials = std::stoi(argv[++i]);
    else if (a == "--lease") lease = argv[++i];
  }
  NodeContainers nodes(simulatedNodeYaml(lease + "s"));
  if (!nodes.built()) {
    std::fprintf(stderr, "build-image failed:\n%s\n", nodes.buildResult().output.c_str());
    return 1;
  }
  std::printf("lease-ttl-s: %s\n", lease.c_str());
  std::fflush(stdout);
  NodeCluster cluster(nodes, nodes.network("failover"), "failover");
  for (int i = 0; i < 4; ++i)
    if (!cluster.add()) return std::fprintf(stderr, "a node did not start\n"), 1;
  auto t0 = Clock::now();
  if (!waitFor([&] { return cluster.settled(3); }, std::chrono::seconds(120)))
    return std::fprintf(stderr, "4 nodes did not settle on 3 voters:\n%s", cluster.dump().c_str()), 1;
  std::fprintf(stderr, "4 nodes -> 3 voters in %.1f s\n", since(t0));
  // The app arrives in the formed cluster, so that the leader spreads it over the four nodes.
  nodes.spec().commit({{"apps/web.yaml", "build: web\nreplicas: 3\n"}, {"web/Dockerfile", "FROM shoal/busybox:local\n"}},
                      "web");
  if (!waitFor([&] { return replicasRunning(cluster); }, std::chrono::seconds(60)))
    return std::fprintf(stderr, "web did not start:\n%s", cluster.dump().c_str()), 1;

  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    const Node* v = victimOf(cluster);
    if (v == nullptr) return std::fprintf(stderr, "no victim:\n%s", cluster.dump().c_str()), 1;
    Node victim = *v;
    std::string role = cluster.voters().contains(victim.id) ? "hub" : "worker";
    auto k = Clock::now();
    cluster.kill(victim.name);
    bool ok = waitFor([&] { return replicasRunning(cluster); }, std::chrono::seconds(120),
                      std::chrono::milliseconds(100));
    double s = ok ? since(k) : -1;
    std::printf("trial-%d-s: %.2f (killed a %s)\n", t + 1, s, role.c_str());
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "%s", cluster.dump().c_str());
    times.push_back(ok ? s : 1e9);
    // Back to 4 nodes with 3 voters and the app running before the next kill.
    if (t + 1 < trials) {
      if (!cluster.add()) return std::fprintf(stderr, "a node did not start\n"), 1;
      if (!waitFor([&] { return cluster.settled(3) && replicasRunning(cluster); }, std::chrono::seconds(120)))
        return std::fprintf(stderr, "did not settle after trial %d:\n%s", t + 1, cluster.dump().c_str()), 1;
    }
  }
  std::printf("failover-median-s: %.2f\n", median(times));
  return 0;
}
