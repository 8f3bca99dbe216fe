// bench_hubs: how fast the leader repairs and improves the etcd voters ("hubs"), with node
// containers from the real node image on Docker networks of this machine
// (tests/harness/node_containers.h; simulated runtime). Prints `key: value` lines:
//   lease-ttl-s       the membership lease (a killed node is dropped when it expires)
//   hub-replace-s     5 nodes with 3 voters; a voter that is not the leader is `docker kill`ed; the
//                     time until every live node lists 3 voters, all alive, and no learner
//                     (median of --trials; each trial's figure on its own line first)
//   promote-better-s  4 nodes with 3 voters; a node labelled `tier: big` starts, with the spec's
//                     cluster.yaml `roles: {hub: {prefer: {tier: big}}}`; the time from its
//                     `docker run` until every node lists it as a voter (median of --trials). The
//                     containers all report the same machine facts, so the label is what makes it
//                     better; the spec also sets `scoring.weights` uptime and latency to 0 (see
//                     `promote-weights` below for why), so the others all score 1.00 and the new
//                     node 1.25, more than the 20% hysteresis asks. Between trials it is stopped
//                     (it hands the role back) and the cluster settles again.
// Flags: --trials N (3), --lease S (10, the image's default node.yaml).
#include <cstdio>
#include <string>
#include <vector>

#include "bench/node_cluster.h"

using namespace shoal::bench;
using namespace shoal::testing;

namespace {

// Kills a voter that is not the leader in a cluster of 5 and times the way back to 3 live voters.
std::vector<double> hubReplace(NodeContainers& nodes, int trials) {
  NodeCluster c(nodes, nodes.network("replace"), "replace");
  for (int i = 0; i < 5; ++i)
    if (!c.add()) return std::fprintf(stderr, "a node did not start\n"), std::vector<double>{};
  auto t0 = Clock::now();
  if (!waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
    return std::fprintf(stderr, "5 nodes did not settle on 3 voters:\n%s", c.dump().c_str()), std::vector<double>{};
  std::fprintf(stderr, "5 nodes -> 3 voters in %.1f s\n", since(t0));
  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    auto voters = c.voters();
    std::string leader = c.leader(), victim;
    for (const auto& n : c.live())
      if (voters.contains(n.id) && n.id != leader) victim = n.name;
    if (victim.empty()) return std::fprintf(stderr, "no victim:\n%s", c.dump().c_str()), times;
    auto k = Clock::now();
    c.kill(victim);
    bool ok = waitFor([&] { return c.settled(3); }, std::chrono::seconds(120));
    double s = ok ? since(k) : -1;
    std::printf("hub-replace-trial-%d-s: %.2f\n", t + 1, s);
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "%s", c.dump().c_str());
    times.push_back(ok ? s : 1e9);
    if (t + 1 < trials) {  // back to 5 nodes
      if (!c.add() || !waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
        return std::fprintf(stderr, "did not settle after trial %d:\n%s", t + 1, c.dump().c_str()), times;
    }
  }
  return times;
}

// A labelled node joins 4 plain ones with 3 voters; the time until it is a voter.
std::vector<double> promoteBetter(NodeContainers& nodes, const std::string& big_yaml, int trials) {
  nodes.spec().commit({{"cluster.yaml",
                        "name: e2e\nmin_nodes: 1\nroles:\n  hub:\n    prefer: {tier: big}\n"
                        "scoring:\n  weights: {memory: 2, cpu: 2, uptime: 0, latency: 0}\n"}},
                      "prefer tier=big for hubs");
  NodeCluster c(nodes, nodes.network("promote"), "promote");
  for (int i = 0; i < 4; ++i)
    if (!c.add()) return std::fprintf(stderr, "a node did not start\n"), std::vector<double>{};
  auto t0 = Clock::now();
  if (!waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
    return std::fprintf(stderr, "4 nodes did not settle on 3 voters:\n%s", c.dump().c_str()), std::vector<double>{};
  std::fprintf(stderr, "4 nodes -> 3 voters in %.1f s\n", since(t0));
  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    auto k = Clock::now();
    const Node* big = c.add(big_yaml);
    if (big == nullptr) return std::fprintf(stderr, "the big node did not start\n"), times;
    Node b = *big;
    bool ok = waitFor([&] { return c.settled(3) && c.voters().contains(b.id); }, std::chrono::seconds(120));
    double s = ok ? since(k) : -1;
    std::printf("promote-better-trial-%d-s: %.2f\n", t + 1, s);
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "%s", c.dump().c_str());
    times.push_back(ok ? s : 1e9);
    // It leaves (docker stop: it hands its role back) and the 4 plain nodes settle on 3 voters.
    int code = c.stop(b.name);
    if (code != 0) std::fprintf(stderr, "the big node exited %d\n", code);
    if (t + 1 < trials && !waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
      return std::fprintf(stderr, "did not settle after trial %d:\n%s", t + 1, c.dump().c_str()), times;
  }
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 3;
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
  TempDir dir;
  std::string big_yaml = dir.path() + "/node-big.yaml";
  writeFile(big_yaml, simulatedNodeYaml(lease + "s", {{"tier", "big"}}));

  std::printf("lease-ttl-s: %s\n", lease.c_str());
  std::fflush(stdout);
  auto replace = hubReplace(nodes, trials);
  if (replace.empty()) return 1;
  std::printf("hub-replace-s: %.2f\n", median(replace));
  std::fflush(stdout);
  auto promote = promoteBetter(nodes, big_yaml, trials);
  if (promote.empty()) return 1;
  std::printf("promote-weights: memory 2 cpu 2 uptime 0 latency 0, hysteresis 20%%\n");
  std::printf("promote-better-s: %.2f\n", median(promote));
  return 0;
}
