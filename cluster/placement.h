// Placement: which node runs how many replicas of each app. Pure: the cluster's leader calls
// `place` with the live nodes, the apps of the spec and the previous assignment, and writes the
// result to the store (/shoal/placement/<app>); each node then reconciles its own share.
// See doc/placement.md.
//
// Rules, in order:
//  - `kRole` apps run `replicas` on every node holding `role`; `kEveryNode` apps run `replicas` on
//    every node (both subject to constraints and capacity).
//  - `kOrigin` apps run all their replicas on one node: where they ran before if it is alive, else
//    `origin` if alive, else the node with the most free memory.
//  - `kSpread` apps: replicas already on a live node that still satisfies the constraints stay
//    there (no churn when a node joins) unless `rebalance` is set; missing replicas go to the
//    eligible node with the fewest replicas of that app, then the most free memory, then the most
//    free cpu, then the lowest id. When the spec asks for fewer, they are removed from the nodes
//    with the most replicas of the app first.
//  - Capacity: an app's `cpus` and `memory_bytes` (its requests) are summed per node and must fit
//    within the node's `cpus` and `memory_bytes`. A node with capacity 0 (unknown) accepts any
//    request of that kind.
//  - Constraints: every `constraints` entry must match the node's label ("key": "value"); a value
//    written "!value" means the label must be absent or different.
//  - Replicas that fit nowhere are reported in `unplaced` with the reason, naming the app and the
//    count first ("web: 2 of 5 replicas unplaced: ..."), then the first that applies: "no node
//    matches the constraints {...}", "no node holds role X", "not enough memory (needs 256 MiB,
//    the most free on an eligible node is 100 MiB)", "not enough cpu (...)".
//
// Deterministic: the same input gives the same output (the simulator replays seeds). Cost is
// O(replicas x nodes) at worst; 10,000 replicas on 1,000 nodes is the benchmark (bench/sim).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace shoal {

struct PlacementNode {
  std::string id;
  double cpus = 0;           // capacity; 0 = unknown (not limiting)
  int64_t memory_bytes = 0;  // capacity; 0 = unknown (not limiting)
  std::map<std::string, std::string> labels;
  std::set<std::string> roles;  // roles this node holds ("hub", "ingress", ...)
};

enum class PlaceMode { kSpread, kEveryNode, kOrigin, kRole };

struct PlacementApp {
  std::string name;
  int replicas = 1;  // kSpread/kOrigin: in total; kEveryNode/kRole: per node
  PlaceMode mode = PlaceMode::kSpread;
  std::string role;          // kRole only
  double cpus = 0;           // request per replica
  int64_t memory_bytes = 0;  // request per replica
  std::map<std::string, std::string> constraints;
};

// app -> node id -> replicas (entries with 0 replicas are left out).
using Assignment = std::map<std::string, std::map<std::string, int>>;

struct Unplaced {
  std::string app;
  int missing = 0;
  std::string reason;
  bool operator==(const Unplaced&) const = default;
};

struct PlacementInput {
  std::vector<PlacementNode> nodes;  // the live members
  std::vector<PlacementApp> apps;
  Assignment previous;               // as last written (may name nodes that are gone)
  std::string origin;                // the cluster's origin node id
  bool rebalance = false;            // move kSpread replicas to even out the spread
};

struct PlacementResult {
  Assignment assignment;
  std::vector<Unplaced> unplaced;  // by app name
  int moved = 0;                   // replicas placed on a different node than before
};

PlacementResult place(const PlacementInput& input);

}  // namespace shoal
