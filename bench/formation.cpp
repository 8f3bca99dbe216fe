// bench_formation: the figures of issue 7, with node containers from the real node image on
// Docker networks of this machine (tests/harness/node_containers.h). Prints `key: value` lines:
//   image-mib     the node image's size
//   form-5-s      5 containers started at once -> one cluster of 5 (median of 3 rounds)
//   join-1-s      one more container -> a member of that cluster (median of 3)
//   node-rss-mib  a member's RSS, idle 10 s after joining (largest of the members)
//   form-50-s     50 containers started at once -> one cluster of 50 (once; --no-50 skips it)
// The containers use the image's node.yaml with the simulated runtime (no apps are under test).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench/node_cluster.h"

using namespace shoal::bench;
using namespace shoal::testing;

namespace {

// Starts `names` at once (one thread per docker run) on `net`.
void runAll(NodeContainers& nodes, const std::vector<std::string>& names, const std::string& net) {
  std::vector<std::thread> threads;
  for (const auto& n : names) threads.emplace_back([&nodes, n, net] { nodes.run(n, net); });
  for (auto& t : threads) t.join();
}

// Polls until one cluster of names.size(); seconds since t0, or -1 after `limit` s.
double waitCluster(NodeContainers& nodes, const std::vector<std::string>& names, Clock::time_point t0,
                   double limit) {
  while (since(t0) < limit) {
    if (nodes.oneCluster(names, static_cast<int>(names.size()))) return since(t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(names.size() > 10 ? 1000 : 100));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  // --no-50: skip the big cluster; --big N: its size (50); --only-big: skip the 5-node rounds.
  bool fifty = true, small = true;
  int big = 50;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-50") fifty = false;
    else if (a == "--only-big") small = false;
    else if (a == "--big" && i + 1 < argc) big = std::stoi(argv[++i]);
  }
  NodeContainers nodes(simulatedNodeYaml("10s"));
  if (!nodes.built()) {
    std::fprintf(stderr, "build-image failed:\n%s\n", nodes.buildResult().output.c_str());
    return 1;
  }
  auto size = sh("docker image inspect -f '{{.Size}}' " + nodes.tag());
  std::printf("image-mib: %.1f\n", std::stoll(size.output) / 1048576.0);
  std::fflush(stdout);

  std::vector<double> form, join;
  double rss_mib = 0;
  for (int round = 0; small && round < 3; ++round) {
    std::string net = nodes.network("f" + std::to_string(round));
    std::vector<std::string> names;
    for (int i = 0; i < 5; ++i) names.push_back("bench-" + std::to_string(round) + "-" + std::to_string(i) + "-" + uniqueName());
    auto t0 = Clock::now();
    runAll(nodes, names, net);
    double f = waitCluster(nodes, names, t0, 120);
    std::fprintf(stderr, "round %d: form-5 %.2f s\n", round, f);
    form.push_back(f < 0 ? 1e9 : f);
    names.push_back("bench-" + std::to_string(round) + "-join-" + uniqueName());
    auto t1 = Clock::now();
    nodes.run(names.back(), net);
    double j = waitCluster(nodes, names, t1, 60);
    std::fprintf(stderr, "round %d: join-1 %.2f s\n", round, j);
    join.push_back(j < 0 ? 1e9 : j);
    if (round == 0) {
      std::this_thread::sleep_for(std::chrono::seconds(10));
      for (const auto& n : names)
        if (!nodes.isHub(n)) rss_mib = std::max(rss_mib, nodes.rssBytes(n) / 1048576.0);
    }
    for (const auto& n : names) sh("docker rm -f " + n + " >/dev/null 2>&1");
  }
  if (small) {
    std::printf("form-5-s: %.2f\n", median(form));
    std::printf("join-1-s: %.2f\n", median(join));
    std::printf("node-rss-mib: %.1f\n", rss_mib);
  }
  std::fflush(stdout);

  if (fifty) {
    std::string net = nodes.network("fifty");
    std::vector<std::string> names;
    for (int i = 0; i < big; ++i) names.push_back("bench-big-" + std::to_string(i) + "-" + uniqueName());
    auto t0 = Clock::now();
    runAll(nodes, names, net);
    std::fprintf(stderr, "%d containers started in %.1f s\n", big, since(t0));
    double f = waitCluster(nodes, names, t0, 300);
    std::printf("form-%d-s: %.1f\n", big, f);
    if (f < 0) {
      std::map<std::string, int> clusters;
      for (const auto& n : names) ++clusters[nodes.clusterId(n) + " size " + std::to_string(nodes.members(n))];
      for (const auto& [c, count] : clusters) std::fprintf(stderr, "  %d nodes in cluster '%s'\n", count, c.c_str());
      if (std::getenv("SHOAL_BENCH_KEEP")) {  // leave them running a while, to look at
        std::fprintf(stderr, "network %s kept for 10 minutes\n", net.c_str());
        std::this_thread::sleep_for(std::chrono::minutes(10));
      }
    }
    for (const auto& n : names) sh("docker rm -f " + n + " >/dev/null 2>&1");
  }
  return 0;
}
