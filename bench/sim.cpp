// bench_sim: placement at scale, the pure `place` of cluster/placement.h on a simulated cluster.
//
//   sim-nodes         live nodes (varied cpus, memory and labels; 5 hubs, ~3% ingress)
//   sim-apps          apps: 3 every-node, 2 role, 1 origin, the rest spread (~20% constrained)
//   sim-replicas      replicas placed by the first placement (of --replicas asked)
//   unplaced          replicas the first placement could not place
//   place-ms          a first placement from nothing (median of 5)
//   replace-node-ms   placing again from that assignment after 10 nodes vanish (median of 5)
//   replace-moved     replicas the re-placement moved to another node
//
// Usage: bench_sim [--nodes N] [--replicas M] [--world W]   (defaults 1000, 10000, 200; --world 0 skips
// the whole-cluster run). Deterministic input
// (seeded), wall time from std::chrono::steady_clock. Prints `key: value` lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cluster/placement.h"
#include "tests/sim/sim_world.h"

using namespace shoal;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr int kRuns = 5;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename T>
const T& pick(std::mt19937& rng, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
}

std::vector<PlacementNode> makeNodes(std::mt19937& rng, int count) {
  std::vector<PlacementNode> nodes;
  for (int i = 0; i < count; ++i) {
    PlacementNode n;
    char id[32];
    std::snprintf(id, sizeof id, "node-%05d", i);
    n.id = id;
    n.cpus = pick<double>(rng, {2, 4, 8, 16});
    n.memory_bytes = pick<int64_t>(rng, {4, 8, 16, 32, 64}) * 1024 * kMiB;
    n.labels["zone"] = pick<std::string>(rng, {"a", "b", "c", "d"});
    n.labels["disk"] = pick<std::string>(rng, {"ssd", "ssd", "hdd"});
    if (i % 10 == 0) n.labels["gpu"] = "yes";
    if (i < 5) n.roles.insert("hub");
    if (i % 33 == 7) n.roles.insert("ingress");
    nodes.push_back(std::move(n));
  }
  return nodes;
}

PlacementApp app(std::string name, int replicas, PlaceMode mode, double cpus, int64_t memory_mib) {
  PlacementApp a;
  a.name = std::move(name);
  a.replicas = replicas;
  a.mode = mode;
  a.cpus = cpus;
  a.memory_bytes = memory_mib * kMiB;
  return a;
}

// Per-node apps first; spread apps make up the rest of `replicas` in total.
std::vector<PlacementApp> makeApps(std::mt19937& rng, const std::vector<PlacementNode>& nodes, int replicas) {
  std::vector<PlacementApp> apps;
  apps.push_back(app("node-agent", 1, PlaceMode::kEveryNode, 0.1, 64));
  apps.push_back(app("log-shipper", 1, PlaceMode::kEveryNode, 0.1, 128));
  apps.back().constraints["disk"] = "ssd";
  apps.push_back(app("gpu-exporter", 1, PlaceMode::kEveryNode, 0.05, 32));
  apps.back().constraints["gpu"] = "yes";
  apps.push_back(app("ingress-lb", 2, PlaceMode::kRole, 0.5, 256));
  apps.back().role = "ingress";
  apps.push_back(app("hub-metrics", 1, PlaceMode::kRole, 0.25, 512));
  apps.back().role = "hub";
  apps.push_back(app("registry", 1, PlaceMode::kOrigin, 1, 2048));
  int left = replicas - 1;  // the origin app's
  for (const auto& a : apps) {
    if (a.mode != PlaceMode::kEveryNode && a.mode != PlaceMode::kRole) continue;
    for (const auto& n : nodes) {
      bool role_ok = a.mode != PlaceMode::kRole || n.roles.contains(a.role);
      bool labels_ok = std::all_of(a.constraints.begin(), a.constraints.end(), [&](const auto& c) {
        auto it = n.labels.find(c.first);
        return it != n.labels.end() && it->second == c.second;
      });
      if (role_ok && labels_ok) left -= a.replicas;
    }
  }
  const std::vector<std::map<std::string, std::string>> constraints = {
      {{"zone", "a"}}, {{"disk", "!hdd"}}, {{"gpu", "yes"}}, {{"zone", "!d"}, {"disk", "ssd"}}};
  for (int i = 0; left > 0; ++i) {
    int n = std::min(left, pick<int>(rng, {1, 2, 3, 5, 10, 20, 50, 100}));
    char name[32];
    std::snprintf(name, sizeof name, "svc-%04d", i);
    apps.push_back(app(name, n, PlaceMode::kSpread, pick<double>(rng, {0, 0.1, 0.25, 0.5, 1}),
                       pick<int64_t>(rng, {0, 64, 128, 256, 512, 1024})));
    if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) apps.back().constraints = pick(rng, constraints);
    left -= n;
  }
  return apps;
}

int placed(const PlacementResult& r) {
  int total = 0;
  for (const auto& [app, per_node] : r.assignment) {
    for (const auto& [node, n] : per_node) total += n;
  }
  return total;
}

int unplaced(const PlacementResult& r) {
  int total = 0;
  for (const auto& u : r.unplaced) total += u.missing;
  return total;
}

// Median wall time of `kRuns` calls; `out` gets the last result (they are all equal).
double timePlace(const PlacementInput& input, PlacementResult& out) {
  std::vector<double> ms;
  for (int i = 0; i < kRuns; ++i) {
    auto start = Steady::now();
    out = place(input);
    ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - start).count());
  }
  return median(ms);
}

// A whole cluster of `count` simulated nodes in this process (tests/sim/sim_world.h: the real
// Membership and leader over SimEtcd, on a FakeClock advanced 500 ms per round): simulated seconds
// until it formed with 5 hubs and every replica placed, then until 10 crashed nodes' replicas are
// placed again; and the wall time the rounds took.
void runWorld(int count) {
  using shoal::sim::SimWorld;
  auto wall = std::chrono::steady_clock::now();
  SimWorld w;
  w.setSpec(shoal::sim::simpleSpec(10, count / 2));
  for (int i = 0; i < count; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "w%04d", i);
    w.add(id, 2 + i % 7, (int64_t{2} + i % 15) << 30);
  }
  auto placedAll = [&] {
    for (const auto& app : w.spec().apps) {
      int total = 0;
      for (auto* n : w.live()) total += n->containers.count(app.name) ? n->containers[app.name] : 0;
      if (total != app.replicas) return false;
    }
    return true;
  };
  int rounds = 0;
  while (rounds < 600 && !(w.clusters().size() == 1 && w.voters().size() == 5 && placedAll())) {
    w.rounds(1);
    ++rounds;
  }
  double form_s = rounds * 0.5;
  std::vector<std::string> victims;
  for (auto* n : w.live())
    if (victims.size() < 10 && !n->containers.empty() && n->id != w.leader()) victims.push_back(n->id);
  for (const auto& v : victims) w.crash(v);
  int after = 0;
  while (after < 600 && !placedAll()) {
    w.rounds(1);
    ++after;
  }
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf("world-nodes: %d\n", count);
  std::printf("world-replicas: %d\n", 10 * (count / 2));
  std::printf("world-formed-sim-s: %.1f%s\n", form_s, rounds >= 600 ? " (not formed)" : "");
  std::printf("world-10-crashed-replaced-sim-s: %.1f%s\n", after * 0.5, after >= 600 ? " (not replaced)" : "");
  std::printf("world-wall-s: %.1f\n", wall_s);
}

bool parseArgs(int argc, char** argv, int& nodes, int& replicas, int& world) {
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--nodes") == 0 && has_value) {
      nodes = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--replicas") == 0 && has_value) {
      replicas = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--world") == 0 && has_value) {
      world = std::atoi(argv[++i]);
    } else {
      return false;
    }
  }
  return nodes > 10 && replicas > 0;
}

}  // namespace

int main(int argc, char** argv) {
  int node_count = 1000, replica_count = 10000;
  int world = 200;
  if (!parseArgs(argc, argv, node_count, replica_count, world)) {
    std::fprintf(stderr, "usage: bench_sim [--nodes N (> 10)] [--replicas M (> 0)] [--world N (0: skip)]\n");
    return 2;
  }
  std::mt19937 rng(20260101);
  PlacementInput input;
  input.nodes = makeNodes(rng, node_count);
  input.apps = makeApps(rng, input.nodes, replica_count);
  input.origin = input.nodes.front().id;

  PlacementResult first;
  const double place_ms = timePlace(input, first);

  // 10 nodes vanish, spread over the id range (one is the origin, whose app must move).
  PlacementInput after = input;
  after.previous = first.assignment;
  std::vector<PlacementNode> alive;
  const int step = node_count / 10;
  for (int i = 0; i < node_count; ++i) {
    if (i % step != 0 || i / step >= 10) alive.push_back(input.nodes[i]);
  }
  after.nodes = std::move(alive);
  PlacementResult second;
  const double replace_ms = timePlace(after, second);

  std::printf("sim-nodes: %d\n", node_count);
  std::printf("sim-apps: %zu\n", input.apps.size());
  std::printf("sim-replicas: %d\n", placed(first));
  std::printf("unplaced: %d\n", unplaced(first));
  std::printf("place-ms: %.1f\n", place_ms);
  std::printf("replace-node-ms: %.1f\n", replace_ms);
  std::printf("replace-moved: %d\n", second.moved);
  for (const auto& u : first.unplaced) std::fprintf(stderr, "%s\n", u.reason.c_str());
  if (world > 0) runWorld(world);
  return 0;
}
