// placement.h: one test per rule of the header, then seeded randomized invariants. The seed is in
// every failure message; replay one with SHOAL_SEED=N --gtest_filter='PlacementPropertyTest.*', or
// try more with SHOAL_SEEDS=100000.
#include "cluster/placement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>

namespace shoal {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

PlacementNode node(std::string id, double cpus = 0, int64_t memory_mib = 0,
                   std::map<std::string, std::string> labels = {}, std::set<std::string> roles = {}) {
  return {std::move(id), cpus, memory_mib * kMiB, std::move(labels), std::move(roles)};
}

PlacementApp spread(std::string name, int replicas, double cpus = 0, int64_t memory_mib = 0,
                    std::map<std::string, std::string> constraints = {}) {
  PlacementApp a;
  a.name = std::move(name);
  a.replicas = replicas;
  a.cpus = cpus;
  a.memory_bytes = memory_mib * kMiB;
  a.constraints = std::move(constraints);
  return a;
}

PlacementApp withMode(PlacementApp a, PlaceMode mode, std::string role = "") {
  a.mode = mode;
  a.role = std::move(role);
  return a;
}

std::vector<PlacementNode> plainNodes(int n) {
  std::vector<PlacementNode> nodes;
  for (int i = 0; i < n; ++i) nodes.push_back(node("n" + std::to_string(i)));
  return nodes;
}

int total(const std::map<std::string, int>& per_node) {
  int t = 0;
  for (const auto& [id, n] : per_node) t += n;
  return t;
}

// --- spread ---

TEST(PlacementTest, SpreadGoesEvenlyLowestIdFirstOnTies) {
  auto r = place({plainNodes(3), {spread("web", 7)}, {}, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"n0", 3}, {"n1", 2}, {"n2", 2}}));
  EXPECT_TRUE(r.unplaced.empty());
  EXPECT_EQ(r.moved, 0);
}

TEST(PlacementTest, SpreadTieBreaksOnMostFreeMemoryThenCpu) {
  std::vector<PlacementNode> nodes = {node("a", 4, 1024), node("b", 4, 2048), node("c", 8, 2048)};
  auto r = place({nodes, {spread("web", 1, 0.5, 256)}, {}, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"c", 1}}));  // b and c: 2 GiB; c more cpu
  r = place({nodes, {spread("web", 3, 0.5, 256)}, {}, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}}));
}

TEST(PlacementTest, EveryAppHasAnEntryEvenWhenNothingIsPlaced) {
  auto r = place({plainNodes(1), {spread("web", 0), spread("db", 1, 0, 0, {{"zone", "x"}})}, {}, "", false});
  EXPECT_TRUE(r.assignment.contains("web"));
  EXPECT_TRUE(r.assignment["web"].empty());
  EXPECT_TRUE(r.assignment["db"].empty());
}

// --- capacity ---

TEST(PlacementTest, MemoryIsSummedPerNodeAndLimits) {
  auto r = place({{node("a", 0, 1024)}, {spread("web", 5, 0, 256)}, {}, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"a", 4}}));
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].app, "web");
  EXPECT_EQ(r.unplaced[0].missing, 1);
  EXPECT_EQ(r.unplaced[0].reason,
            "web: 1 of 5 replicas unplaced: not enough memory (needs 256 MiB, the most free on an eligible node "
            "is 0 MiB)");
}

TEST(PlacementTest, CpuIsSummedPerNodeAndLimits) {
  auto r = place({{node("a", 2, 0), node("b", 1, 0)}, {spread("web", 8, 0.5, 0)}, {}, "", false});
  EXPECT_EQ(total(r.assignment["web"]), 6);
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].reason,
            "web: 2 of 8 replicas unplaced: not enough cpu (needs 0.5 cpus, the most free on an eligible node is "
            "0 cpus)");
}

TEST(PlacementTest, RequestsOfDifferentAppsShareANode) {
  auto r = place({{node("a", 0, 1000)}, {spread("x", 2, 0, 300), spread("y", 2, 0, 300)}, {}, "", false});
  EXPECT_EQ(r.assignment["x"], (std::map<std::string, int>{{"a", 2}}));  // x comes first by name
  EXPECT_EQ(r.assignment["y"], (std::map<std::string, int>{{"a", 1}}));
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].reason,
            "y: 1 of 2 replicas unplaced: not enough memory (needs 300 MiB, the most free on an eligible node is "
            "100 MiB)");
}

TEST(PlacementTest, UnknownCapacityAcceptsAnyRequest) {
  auto r = place({{node("a", 0, 0)}, {spread("big", 3, 64, 1 << 20)}, {}, "", false});
  EXPECT_EQ(r.assignment["big"], (std::map<std::string, int>{{"a", 3}}));
  // Unknown memory but known cpu: only cpu limits.
  r = place({{node("a", 1, 0)}, {spread("big", 3, 0.5, 1 << 20)}, {}, "", false});
  EXPECT_EQ(r.assignment["big"], (std::map<std::string, int>{{"a", 2}}));
}

TEST(PlacementTest, MemoryAndCpuNeverTogetherIsSaid) {
  auto r = place({{node("a", 4, 100), node("b", 0.1, 4096)}, {spread("web", 1, 1, 512)}, {}, "", false});
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].reason,
            "web: 1 of 1 replicas unplaced: not enough memory and cpu together (needs 512 MiB and 1 cpu; some "
            "nodes have one free, none has both)");
}

// --- constraints ---

TEST(PlacementTest, ConstraintsEqualAndNot) {
  std::vector<PlacementNode> nodes = {node("a", 0, 0, {{"zone", "eu"}, {"disk", "ssd"}}),
                                      node("b", 0, 0, {{"zone", "eu"}, {"disk", "hdd"}}),
                                      node("c", 0, 0, {{"zone", "us"}}), node("d")};
  auto r = place({nodes,
                  {spread("eu", 4, 0, 0, {{"zone", "eu"}}), spread("fast", 2, 0, 0, {{"disk", "!hdd"}}),
                   spread("eu-fast", 2, 0, 0, {{"zone", "eu"}, {"disk", "!hdd"}})},
                  {},
                  "",
                  false});
  EXPECT_EQ(r.assignment["eu"], (std::map<std::string, int>{{"a", 2}, {"b", 2}}));
  EXPECT_EQ(r.assignment["fast"], (std::map<std::string, int>{{"a", 1}, {"c", 1}}));  // c, d: no disk label
  EXPECT_EQ(r.assignment["eu-fast"], (std::map<std::string, int>{{"a", 2}}));
}

TEST(PlacementTest, NoNodeMatchingTheConstraintsIsSaid) {
  auto r = place({{node("a", 0, 0, {{"zone", "eu"}})},
                  {spread("web", 3, 0, 0, {{"zone", "us"}, {"disk", "!hdd"}})},
                  {},
                  "",
                  false});
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0], (Unplaced{"web", 3,
                                     "web: 3 of 3 replicas unplaced: no node matches the constraints {disk: !hdd, "
                                     "zone: us}"}));
  r = place({{}, {spread("web", 2)}, {}, "", false});
  EXPECT_EQ(r.unplaced.at(0).reason, "web: 2 of 2 replicas unplaced: there are no live nodes");
}

// --- every node and role ---

TEST(PlacementTest, EveryNodeRunsReplicasOnEachEligibleNode) {
  std::vector<PlacementNode> nodes = {node("a", 0, 0, {{"edge", "yes"}}), node("b"),
                                      node("c", 0, 0, {{"edge", "yes"}})};
  auto r = place({nodes,
                  {withMode(spread("agent", 2), PlaceMode::kEveryNode),
                   withMode(spread("proxy", 1, 0, 0, {{"edge", "yes"}}), PlaceMode::kEveryNode)},
                  {},
                  "",
                  false});
  EXPECT_EQ(r.assignment["agent"], (std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}}));
  EXPECT_EQ(r.assignment["proxy"], (std::map<std::string, int>{{"a", 1}, {"c", 1}}));
  EXPECT_TRUE(r.unplaced.empty());
}

TEST(PlacementTest, EveryNodeShortOfRoomSaysWhere) {
  std::vector<PlacementNode> nodes = {node("a", 0, 1024), node("b", 0, 300), node("c", 0, 100)};
  auto r = place({nodes, {withMode(spread("agent", 2, 0, 256), PlaceMode::kEveryNode)}, {}, "", false});
  EXPECT_EQ(r.assignment["agent"], (std::map<std::string, int>{{"a", 2}, {"b", 1}}));
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].missing, 3);
  EXPECT_EQ(r.unplaced[0].reason,
            "agent: 3 of 6 replicas unplaced: not enough memory on 2 of 3 eligible nodes (needs 256 MiB, the most "
            "free on those is 100 MiB)");
}

TEST(PlacementTest, RoleAppsRunOnEveryHolder) {
  std::vector<PlacementNode> nodes = {node("a", 0, 0, {}, {"ingress"}), node("b", 0, 0, {}, {"hub"}),
                                      node("c", 0, 0, {{"zone", "eu"}}, {"ingress", "hub"})};
  auto r = place({nodes,
                  {withMode(spread("lb", 2), PlaceMode::kRole, "ingress"),
                   withMode(spread("eu-lb", 1, 0, 0, {{"zone", "eu"}}), PlaceMode::kRole, "ingress")},
                  {},
                  "",
                  false});
  EXPECT_EQ(r.assignment["lb"], (std::map<std::string, int>{{"a", 2}, {"c", 2}}));
  EXPECT_EQ(r.assignment["eu-lb"], (std::map<std::string, int>{{"c", 1}}));
}

TEST(PlacementTest, RoleNobodyHoldsIsSaid) {
  std::vector<PlacementNode> nodes = {node("a", 0, 0, {}, {"hub"})};
  auto r = place({nodes,
                  {withMode(spread("lb", 2), PlaceMode::kRole, "ingress"),
                   withMode(spread("hub-eu", 1, 0, 0, {{"zone", "eu"}}), PlaceMode::kRole, "hub")},
                  {},
                  "",
                  false});
  ASSERT_EQ(r.unplaced.size(), 2u);
  EXPECT_EQ(r.unplaced[0].reason,
            "hub-eu: 1 of 1 replicas unplaced: no node holding role hub matches the constraints {zone: eu}");
  EXPECT_EQ(r.unplaced[1].reason, "lb: 2 of 2 replicas unplaced: no node holds role ingress");
}

TEST(PlacementTest, RoleAndEveryNodeAppsTakeRoomBeforeSpreadApps) {
  // "a-web" sorts before "z-agent", yet the every-node app is served first.
  std::vector<PlacementNode> nodes = {node("n", 0, 1024)};
  Assignment previous = {{"a-web", {{"n", 4}}}};
  auto r = place({nodes,
                  {spread("a-web", 4, 0, 256), withMode(spread("z-agent", 1, 0, 256), PlaceMode::kEveryNode)},
                  previous,
                  "",
                  false});
  EXPECT_EQ(r.assignment["z-agent"], (std::map<std::string, int>{{"n", 1}}));
  EXPECT_EQ(r.assignment["a-web"], (std::map<std::string, int>{{"n", 3}}));
  EXPECT_EQ(r.unplaced.at(0).app, "a-web");
}

// --- origin ---

TEST(PlacementTest, OriginAppRunsAllReplicasOnTheOrigin) {
  auto r = place({plainNodes(3), {withMode(spread("db", 3), PlaceMode::kOrigin)}, {}, "n1", false});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"n1", 3}}));
}

TEST(PlacementTest, OriginAppStaysWhereItRanWhenTheOriginMoves) {
  Assignment previous = {{"db", {{"n2", 2}}}};
  auto r = place({plainNodes(3), {withMode(spread("db", 2), PlaceMode::kOrigin)}, previous, "n0", false});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"n2", 2}}));
  EXPECT_EQ(r.moved, 0);
}

TEST(PlacementTest, OriginAppGoesToTheOriginWhenItsNodeIsGone) {
  Assignment previous = {{"db", {{"gone", 2}}}};
  auto r = place({plainNodes(3), {withMode(spread("db", 2), PlaceMode::kOrigin)}, previous, "n1", false});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"n1", 2}}));
  EXPECT_EQ(r.moved, 2);
}

TEST(PlacementTest, OriginAppGoesToMostFreeMemoryWhenOriginAndItsNodeAreGone) {
  std::vector<PlacementNode> nodes = {node("a", 0, 1024), node("b", 0, 4096), node("c", 0, 2048)};
  Assignment previous = {{"db", {{"gone", 1}}}};
  auto r = place({nodes, {withMode(spread("db", 1, 0, 100), PlaceMode::kOrigin)}, previous, "also-gone", false});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"b", 1}}));
}

TEST(PlacementTest, OriginAppSkipsAnOriginWithoutRoom) {
  std::vector<PlacementNode> nodes = {node("a", 0, 100), node("b", 0, 4096), node("c", 0, 2048)};
  auto r = place({nodes, {withMode(spread("db", 2, 0, 512), PlaceMode::kOrigin)}, {}, "a", false});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"b", 2}}));
}

TEST(PlacementTest, OriginAppShortOfRoomStaysOnOneNode) {
  std::vector<PlacementNode> nodes = {node("a", 0, 1024), node("b", 0, 1024)};
  auto r = place({nodes, {withMode(spread("db", 3, 0, 512), PlaceMode::kOrigin)}, {}, "a", false});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"a", 2}}));
  ASSERT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.unplaced[0].reason,
            "db: 1 of 3 replicas unplaced: not enough memory on a, the one node all replicas of an origin app share "
            "(needs 512 MiB, the most free on a is 0 MiB)");
}

// --- changes from the previous assignment ---

TEST(PlacementTest, ScaleDownRemovesFromTheMostLoadedHighestIdFirst) {
  Assignment previous = {{"web", {{"n0", 1}, {"n1", 3}, {"n2", 3}}}};
  auto r = place({plainNodes(3), {spread("web", 4)}, previous, "", false});
  // n2 3->2, then n1 3->2, then n2 (tie at 2, higher id) 2->1.
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"n0", 1}, {"n1", 2}, {"n2", 1}}));
  EXPECT_EQ(r.moved, 0);
  r = place({plainNodes(3), {spread("web", 0)}, previous, "", false});
  EXPECT_TRUE(r.assignment["web"].empty());
}

TEST(PlacementTest, ScaleUpIsNotAMove) {
  Assignment previous = {{"web", {{"n0", 1}}}};
  auto r = place({plainNodes(3), {spread("web", 3)}, previous, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"n0", 1}, {"n1", 1}, {"n2", 1}}));
  EXPECT_EQ(r.moved, 0);
}

TEST(PlacementTest, NoChurnWhenANodeJoins) {
  std::vector<PlacementNode> nodes = plainNodes(3);
  std::vector<PlacementApp> apps = {spread("web", 7), withMode(spread("agent", 1), PlaceMode::kEveryNode)};
  auto before = place({nodes, apps, {}, "", false});
  nodes.push_back(node("n3"));
  auto after = place({nodes, apps, before.assignment, "", false});
  EXPECT_EQ(after.assignment["web"], before.assignment["web"]);
  EXPECT_EQ(after.assignment["agent"].at("n3"), 1);
  EXPECT_EQ(after.moved, 0);
}

TEST(PlacementTest, RebalanceEvensOutOntoANewNode) {
  Assignment previous = {{"web", {{"n0", 5}, {"n1", 4}}}};
  auto r = place({plainNodes(3), {spread("web", 9)}, previous, "", true});
  // n0 (most) gives to n2, then n1 and n0 tie at 4: n1 (higher id) gives.
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"n0", 3}, {"n1", 3}, {"n2", 3}}));
  EXPECT_EQ(r.moved, 3);
}

TEST(PlacementTest, RebalanceRespectsCapacity) {
  std::vector<PlacementNode> nodes = {node("a", 0, 0), node("b", 0, 512)};
  Assignment previous = {{"web", {{"a", 6}}}};
  auto r = place({nodes, {spread("web", 6, 0, 256)}, previous, "", true});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"a", 4}, {"b", 2}}));
  EXPECT_EQ(r.moved, 2);
}

TEST(PlacementTest, RebalanceLeavesOtherModesAlone) {
  Assignment previous = {{"db", {{"n0", 3}}}};
  auto r = place({plainNodes(3), {withMode(spread("db", 3), PlaceMode::kOrigin)}, previous, "n0", true});
  EXPECT_EQ(r.assignment["db"], (std::map<std::string, int>{{"n0", 3}}));
  EXPECT_EQ(r.moved, 0);
}

TEST(PlacementTest, ReplicasOfAGoneNodeAreReplacedAndCountAsMoved) {
  Assignment previous = {{"web", {{"n0", 2}, {"n1", 2}, {"gone", 2}}}};
  auto r = place({plainNodes(3), {spread("web", 6)}, previous, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"n0", 2}, {"n1", 2}, {"n2", 2}}));
  EXPECT_EQ(r.moved, 2);
}

TEST(PlacementTest, ReplicasOfAGoneNodeThatFitNowhereAreNotMoves) {
  std::vector<PlacementNode> nodes = {node("a", 0, 512)};
  Assignment previous = {{"web", {{"a", 2}, {"gone", 2}}}};
  auto r = place({nodes, {spread("web", 4, 0, 256)}, previous, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"a", 2}}));
  EXPECT_EQ(r.moved, 0);
  EXPECT_EQ(r.unplaced.at(0).missing, 2);
}

TEST(PlacementTest, ReplicasOnANodeNoLongerEligibleMove) {
  std::vector<PlacementNode> nodes = {node("a", 0, 0, {{"zone", "us"}}), node("b", 0, 0, {{"zone", "eu"}})};
  Assignment previous = {{"web", {{"a", 2}}}};
  auto r = place({nodes, {spread("web", 2, 0, 0, {{"zone", "eu"}})}, previous, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"b", 2}}));
  EXPECT_EQ(r.moved, 2);
}

TEST(PlacementTest, ReplicasOverCapacityAreDroppedAndReplaced) {
  // The node shrank (or another app took room): what does not fit any more moves.
  std::vector<PlacementNode> nodes = {node("a", 0, 512), node("b", 0, 4096)};
  Assignment previous = {{"web", {{"a", 4}}}};
  auto r = place({nodes, {spread("web", 4, 0, 256)}, previous, "", false});
  EXPECT_EQ(r.assignment["web"], (std::map<std::string, int>{{"a", 2}, {"b", 2}}));
  EXPECT_EQ(r.moved, 2);
}

TEST(PlacementTest, InputOrderDoesNotMatter) {
  std::vector<PlacementNode> nodes = {node("c", 2, 1024), node("a", 4, 2048), node("b", 1, 512)};
  std::vector<PlacementApp> apps = {spread("y", 5, 0.5, 128), withMode(spread("x", 1, 0.25), PlaceMode::kEveryNode),
                                    spread("w", 3, 0.5, 256)};
  auto r1 = place({nodes, apps, {}, "", false});
  std::reverse(nodes.begin(), nodes.end());
  std::reverse(apps.begin(), apps.end());
  auto r2 = place({nodes, apps, {}, "", false});
  EXPECT_EQ(r1.assignment, r2.assignment);
  EXPECT_EQ(r1.unplaced, r2.unplaced);
}

TEST(PlacementTest, TenThousandReplicasOnAThousandNodes) {
  std::vector<PlacementNode> nodes;
  for (int i = 0; i < 1000; ++i) nodes.push_back(node("node-" + std::to_string(i), 8, 16384));
  std::vector<PlacementApp> apps;
  for (int i = 0; i < 100; ++i) apps.push_back(spread("app-" + std::to_string(i), 100, 0.1, 64));
  auto start = std::chrono::steady_clock::now();
  auto r = place({nodes, apps, {}, "", false});
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  int placed = 0;
  for (const auto& [app, per_node] : r.assignment) placed += total(per_node);
  EXPECT_EQ(placed, 10000);
  EXPECT_TRUE(r.unplaced.empty());
  std::printf("placed 10,000 replicas on 1,000 nodes in %.1f ms\n", ms);
}

// --- seeded randomized invariants ---

struct World {
  PlacementInput input;
  std::vector<std::string> pool;  // node ids that may appear in `previous`, alive or not
};

std::string pick(std::mt19937& rng, const std::vector<std::string>& from) {
  return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
}

int roll(std::mt19937& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

PlacementNode randomNode(std::mt19937& rng, std::string id) {
  const std::vector<double> cpus = {0, 1, 2, 4, 8};
  const std::vector<int64_t> mem = {0, 512, 1024, 2048, 8192};
  PlacementNode n = node(std::move(id), cpus[roll(rng, 0, 4)], mem[roll(rng, 0, 4)]);
  if (roll(rng, 0, 3) > 0) n.labels["zone"] = pick(rng, {"a", "b", "c"});
  if (roll(rng, 0, 1)) n.labels["disk"] = pick(rng, {"ssd", "hdd"});
  if (roll(rng, 0, 2) == 0) n.roles.insert("hub");
  if (roll(rng, 0, 2) == 0) n.roles.insert("ingress");
  return n;
}

PlacementApp randomApp(std::mt19937& rng, int i) {
  const std::vector<double> cpus = {0, 0.25, 0.5, 1, 2};
  const std::vector<int64_t> mem = {0, 64, 128, 256, 1024};
  PlacementApp a = spread("app" + std::to_string(i), 0, cpus[roll(rng, 0, 4)], mem[roll(rng, 0, 4)]);
  int mode = roll(rng, 0, 9);
  a.mode = mode < 6   ? PlaceMode::kSpread
           : mode < 7 ? PlaceMode::kEveryNode
           : mode < 8 ? PlaceMode::kRole
                      : PlaceMode::kOrigin;
  if (a.mode == PlaceMode::kRole) a.role = pick(rng, {"hub", "ingress", "edge"});
  const bool per_node = a.mode == PlaceMode::kEveryNode || a.mode == PlaceMode::kRole;
  a.replicas = per_node ? roll(rng, 0, 2) : roll(rng, 0, 12);
  for (int c = roll(rng, -2, 2); c > 0; --c) {
    if (roll(rng, 0, 1)) {
      a.constraints["zone"] = pick(rng, {"a", "b", "!a", "!c"});
    } else {
      a.constraints["disk"] = pick(rng, {"ssd", "!hdd"});
    }
  }
  return a;
}

World randomWorld(uint32_t seed) {
  std::mt19937 rng(seed);
  World w;
  for (int i = 0; i < 16; ++i) w.pool.push_back("n" + std::to_string(i));
  for (const auto& id : w.pool) {
    if (roll(rng, 0, 3) > 0) w.input.nodes.push_back(randomNode(rng, id));
  }
  for (int i = roll(rng, 1, 8); i > 0; --i) w.input.apps.push_back(randomApp(rng, i));
  for (const auto& app : w.input.apps) {
    if (roll(rng, 0, 2) == 0) continue;
    for (int k = roll(rng, 0, 4); k > 0; --k) w.input.previous[app.name][pick(rng, w.pool)] += roll(rng, 1, 4);
  }
  w.input.origin = pick(rng, w.pool);
  w.input.rebalance = roll(rng, 0, 1);
  return w;
}

bool matches(const PlacementNode& n, const std::map<std::string, std::string>& constraints) {
  for (const auto& [k, v] : constraints) {
    auto it = n.labels.find(k);
    bool has = it != n.labels.end();
    if (!v.empty() && v[0] == '!' ? has && it->second == v.substr(1) : !has || it->second != v) return false;
  }
  return true;
}

bool eligible(const PlacementNode& n, const PlacementApp& a) {
  return (a.mode != PlaceMode::kRole || n.roles.contains(a.role)) && matches(n, a.constraints);
}

struct Used {
  double cpus = 0;
  int64_t mem = 0;
};

std::map<std::string, Used> usage(const PlacementInput& in, const Assignment& as) {
  std::map<std::string, Used> used;
  for (const auto& a : in.apps) {
    auto it = as.find(a.name);
    if (it == as.end()) continue;
    for (const auto& [id, n] : it->second) {
      used[id].cpus += a.cpus * n;
      used[id].mem += a.memory_bytes * n;
    }
  }
  return used;
}

bool roomForOne(const PlacementNode& n, const Used& u, const PlacementApp& a) {
  bool mem = n.memory_bytes == 0 || u.mem + a.memory_bytes <= n.memory_bytes;
  bool cpu = n.cpus == 0 || u.cpus + a.cpus <= n.cpus + 1e-9;
  return mem && cpu;
}

// Every invariant of one result; failures name the seed.
void checkInvariants(uint32_t seed, const PlacementInput& in, const PlacementResult& r) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::map<std::string, const PlacementNode*> live;
  for (const auto& n : in.nodes) live[n.id] = &n;
  auto used = usage(in, r.assignment);
  for (const auto& [id, u] : used) {
    const PlacementNode& n = *live.at(id);
    EXPECT_TRUE(n.cpus == 0 || u.cpus <= n.cpus + 1e-9) << id << " over cpu: " << u.cpus << " > " << n.cpus;
    EXPECT_TRUE(n.memory_bytes == 0 || u.mem <= n.memory_bytes) << id << " over memory";
  }
  std::map<std::string, const Unplaced*> unplaced;
  for (const auto& u : r.unplaced) unplaced[u.app] = &u;
  for (const auto& a : in.apps) {
    ASSERT_TRUE(r.assignment.contains(a.name)) << a.name;
    const auto& per_node = r.assignment.at(a.name);
    int missing = unplaced.contains(a.name) ? unplaced[a.name]->missing : 0;
    if (missing > 0) {
      EXPECT_EQ(unplaced[a.name]->reason.rfind(a.name + ": " + std::to_string(missing) + " of ", 0), 0u);
    }
    for (const auto& [id, n] : per_node) {
      ASSERT_TRUE(live.contains(id)) << a.name << " on gone node " << id;
      EXPECT_GT(n, 0);
      EXPECT_TRUE(eligible(*live[id], a)) << a.name << " on ineligible node " << id;
    }
    if (a.mode == PlaceMode::kSpread || a.mode == PlaceMode::kOrigin) {
      EXPECT_EQ(total(per_node) + missing, a.replicas) << a.name;
      if (a.mode == PlaceMode::kOrigin) {
        EXPECT_LE(per_node.size(), 1u) << a.name;
      }
      if (a.mode == PlaceMode::kSpread && missing > 0) {
        for (const auto& n : in.nodes) {
          EXPECT_FALSE(eligible(n, a) && roomForOne(n, used[n.id], a))
              << a.name << " unplaced, yet " << n.id << " has room";
        }
      }
      continue;
    }
    int short_sum = 0, eligible_nodes = 0;
    for (const auto& n : in.nodes) {
      if (!eligible(n, a)) continue;
      ++eligible_nodes;
      int have = per_node.contains(n.id) ? per_node.at(n.id) : 0;
      EXPECT_LE(have, a.replicas);
      if (have < a.replicas) {
        EXPECT_FALSE(roomForOne(n, used[n.id], a)) << a.name << " short on " << n.id << " with room";
      }
      short_sum += a.replicas - have;
    }
    EXPECT_EQ(missing, eligible_nodes == 0 ? a.replicas : short_sum) << a.name;
  }
}

void expectSame(const PlacementResult& a, const PlacementResult& b) {
  EXPECT_EQ(a.assignment, b.assignment);
  EXPECT_EQ(a.unplaced, b.unplaced);
  EXPECT_EQ(a.moved, b.moved);
}

// Seeds 1..2000, or SHOAL_SEED=N to replay one, or SHOAL_SEEDS=N to try 1..N.
std::vector<uint32_t> seeds() {
  if (const char* s = std::getenv("SHOAL_SEED")) return {static_cast<uint32_t>(std::strtoul(s, nullptr, 10))};
  uint32_t count = 2000;
  if (const char* s = std::getenv("SHOAL_SEEDS")) count = static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  std::vector<uint32_t> all;
  for (uint32_t s = 1; s <= count; ++s) all.push_back(s);
  return all;
}

TEST(PlacementPropertyTest, InvariantsHold) {
  for (uint32_t seed : seeds()) {
    World w = randomWorld(seed);
    checkInvariants(seed, w.input, place(w.input));
    if (HasFailure()) return;
  }
}

TEST(PlacementPropertyTest, DeterministicWhateverTheInputOrder) {
  for (uint32_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = randomWorld(seed);
    auto first = place(w.input);
    expectSame(first, place(w.input));
    std::mt19937 rng(seed);
    std::shuffle(w.input.nodes.begin(), w.input.nodes.end(), rng);
    std::shuffle(w.input.apps.begin(), w.input.apps.end(), rng);
    expectSame(first, place(w.input));
    if (HasFailure()) return;
  }
}

TEST(PlacementPropertyTest, PlacingTheResultAgainChangesNothing) {
  for (uint32_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = randomWorld(seed);
    auto first = place(w.input);
    PlacementInput again = w.input;
    again.previous = first.assignment;
    auto second = place(again);
    EXPECT_EQ(second.assignment, first.assignment);
    EXPECT_EQ(second.unplaced, first.unplaced);
    EXPECT_EQ(second.moved, 0);
    if (HasFailure()) return;
  }
}

TEST(PlacementPropertyTest, AJoiningNodeMovesNothingWithoutRebalance) {
  for (uint32_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = randomWorld(seed);
    auto first = place(w.input);
    std::mt19937 rng(seed ^ 0x9e3779b9u);
    PlacementInput joined = w.input;
    joined.previous = first.assignment;
    joined.rebalance = false;
    joined.nodes.push_back(randomNode(rng, "new"));
    auto second = place(joined);
    checkInvariants(seed, joined, second);
    EXPECT_EQ(second.moved, 0);
    for (const auto& [app, per_node] : first.assignment) {
      auto now = second.assignment.at(app);
      now.erase("new");
      EXPECT_EQ(now, per_node) << app << ": replicas on the old nodes changed";
    }
    if (HasFailure()) return;
  }
}

TEST(PlacementPropertyTest, AVanishedNodeMovesOnlyItsReplicas) {
  for (uint32_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = randomWorld(seed);
    if (w.input.nodes.empty()) continue;
    w.input.rebalance = false;
    auto first = place(w.input);
    PlacementInput lost = w.input;
    lost.previous = first.assignment;
    std::mt19937 rng(seed);
    auto victim = lost.nodes.begin() + roll(rng, 0, static_cast<int>(lost.nodes.size()) - 1);
    std::string gone = victim->id;
    lost.nodes.erase(victim);
    auto second = place(lost);
    checkInvariants(seed, lost, second);
    int on_gone = 0;
    for (const auto& a : lost.apps) {
      if (a.mode != PlaceMode::kSpread && a.mode != PlaceMode::kOrigin) continue;
      auto it = first.assignment.at(a.name).find(gone);
      if (it != first.assignment.at(a.name).end()) on_gone += it->second;
    }
    EXPECT_LE(second.moved, on_gone);
    if (HasFailure()) return;
  }
}

TEST(PlacementPropertyTest, WithoutCapacityLimitsSpreadIsEven) {
  for (uint32_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = randomWorld(seed);
    for (auto& n : w.input.nodes) n.cpus = 0, n.memory_bytes = 0;
    // Fresh, and rebalanced from an arbitrary previous assignment: both even.
    for (bool fresh : {true, false}) {
      PlacementInput in = w.input;
      if (fresh) in.previous.clear();
      in.rebalance = !fresh;
      auto r = place(in);
      checkInvariants(seed, in, r);
      for (const auto& a : in.apps) {
        if (a.mode != PlaceMode::kSpread) continue;
        int lo = a.replicas, hi = 0;
        for (const auto& n : in.nodes) {
          if (!eligible(n, a)) continue;
          int c = r.assignment.at(a.name).contains(n.id) ? r.assignment.at(a.name).at(n.id) : 0;
          lo = std::min(lo, c);
          hi = std::max(hi, c);
        }
        EXPECT_LE(hi - lo, 1) << a.name << (fresh ? " fresh" : " rebalanced");
      }
    }
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace shoal
