// Role counts by cluster size, candidate scoring, hysteresis, and the invariants of `chooseHolders`
// over seeded random clusters.
#include "cluster/roles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace shoal {
namespace {

using Strings = std::vector<std::string>;

constexpr int64_t kGiB = int64_t{1} << 30;

RoleCount table(std::map<int, int> t) { return RoleCount{false, std::move(t)}; }
RoleCount everyNode() { return RoleCount{true, {}}; }

RoleSpec role(const std::string& name, RoleCount count) { return RoleSpec{name, std::move(count), {}, {}}; }
RoleSpec hub() { return role("hub", defaultHubCount()); }

RoleCandidate node(const std::string& id, int64_t memory_gib, double cpus = 1, int64_t uptime_s = 3600,
                   double latency_ms = 1) {
  return RoleCandidate{id, cpus, memory_gib * kGiB, uptime_s, latency_ms, {}};
}

// Weights that score by memory alone, so a test can set scores exactly.
ScoreWeights memoryOnly() { return ScoreWeights{1, 0, 0, 0}; }

// A node whose memory-only score is `memory / 100` when another node has 100.
RoleCandidate mem(const std::string& id, int64_t memory) { return RoleCandidate{id, 1, memory, 100, 1, {}}; }

std::vector<int> hubCounts(const RoleCount& count, int up_to) {
  std::vector<int> out;
  for (int n = 1; n <= up_to; ++n) out.push_back(hubCount(count, n));
  return out;
}

TEST(RoleCountTest, DefaultHubTable) {
  EXPECT_EQ(hubCounts(defaultHubCount(), 12), (std::vector<int>{1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 5, 5}));
  EXPECT_EQ(hubCount(defaultHubCount(), 0), 0);
  EXPECT_EQ(hubCount(defaultHubCount(), 1000), 5);
}

TEST(RoleCountTest, TableEntryWithTheLargestKeyAtMostTheSizeApplies) {
  RoleCount c = table({{1, 1}, {4, 2}, {10, 4}});
  std::vector<int> got;
  for (int n = 0; n <= 11; ++n) got.push_back(roleCount(c, n));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 4, 4}));
}

TEST(RoleCountTest, CappedByTheNodeCount) {
  EXPECT_EQ(roleCount(table({{1, 3}}), 1), 1);
  EXPECT_EQ(roleCount(table({{1, 3}}), 2), 2);
  EXPECT_EQ(roleCount(table({{1, 3}}), 5), 3);
  EXPECT_EQ(hubCount(table({{1, 5}}), 2), 1);  // capped to 2, then odd
  EXPECT_EQ(hubCount(table({{1, 5}}), 4), 3);
  EXPECT_EQ(hubCount(table({{1, 5}}), 6), 5);
}

TEST(RoleCountTest, HubCountsAreOddRoundedDown) {
  EXPECT_EQ(hubCounts(table({{1, 2}}), 5), (std::vector<int>{1, 1, 1, 1, 1}));
  EXPECT_EQ(hubCounts(table({{1, 1}, {2, 4}}), 6), (std::vector<int>{1, 1, 3, 3, 3, 3}));
  EXPECT_EQ(hubCounts(table({{1, 1}, {3, 6}}), 8), (std::vector<int>{1, 1, 3, 3, 5, 5, 5, 5}));
  // Other roles keep even counts.
  EXPECT_EQ(roleCount(table({{1, 2}}), 5), 2);
}

TEST(RoleCountTest, EveryNode) {
  for (int n = 0; n <= 7; ++n) EXPECT_EQ(roleCount(everyNode(), n), n) << n;
  EXPECT_EQ(hubCounts(everyNode(), 6), (std::vector<int>{1, 1, 3, 3, 5, 5}));
}

TEST(RoleCountTest, HubIsAtLeastOneWhenThereAreNodes) {
  EXPECT_EQ(hubCount(table({{3, 3}}), 2), 1);  // no entry applies below 3 nodes
  EXPECT_EQ(roleCount(table({{3, 3}}), 2), 0);
}

TEST(ScoringTest, EachFactIsNormalizedOverTheCandidates) {
  std::vector<ScoredCandidate> s =
      scoreCandidates(hub(), ScoreWeights{}, {node("a", 4, 2, 1800, 1), node("b", 8, 4, 7200, 2)});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].id, "b");
  EXPECT_NEAR(s[0].score, (2 * 1.0 + 2 * 1.0 + 1.0 + 0.5) / 6, 1e-9);
  EXPECT_EQ(s[0].why, "memory 1.00 cpu 1.00 uptime 1.00 latency 0.50");
  EXPECT_TRUE(s[0].eligible);
  EXPECT_EQ(s[1].id, "a");
  EXPECT_NEAR(s[1].score, (2 * 0.5 + 2 * 0.5 + 0.5 + 1.0) / 6, 1e-9);
  EXPECT_EQ(s[1].why, "memory 0.50 cpu 0.50 uptime 0.50 latency 1.00");
}

// Uptime is scored against `mature_after` (default 1 h), not against the oldest candidate: in a
// young cluster a few seconds between starts decide nothing, and nodes up for long all score 1.
TEST(ScoringTest, UptimeCountsInProportionUntilMatureAfter) {
  ScoreWeights uptime_only{0, 0, 1, 0};
  auto s = scoreCandidates(hub(), uptime_only, {node("a", 1, 1, 10), node("b", 1, 1, 20)});
  EXPECT_NEAR(s[0].score, 20.0 / 3600, 1e-9);
  EXPECT_NEAR(s[1].score, 10.0 / 3600, 1e-9);
  s = scoreCandidates(hub(), uptime_only, {node("a", 1, 1, 2 * 86400), node("b", 1, 1, 3600)});
  EXPECT_DOUBLE_EQ(s[0].score, 1.0);
  EXPECT_DOUBLE_EQ(s[1].score, 1.0);
  EXPECT_EQ(s[0].id, "a");  // a tie: the lower id
  uptime_only.mature_after_s = 60;
  s = scoreCandidates(hub(), uptime_only, {node("a", 1, 1, 15), node("b", 1, 1, 600)});
  EXPECT_EQ(s[0].id, "b");
  EXPECT_DOUBLE_EQ(s[0].score, 1.0);
  EXPECT_DOUBLE_EQ(s[1].score, 0.25);
  EXPECT_EQ(s[1].why, "memory 1.00 cpu 1.00 uptime 0.25 latency 1.00");
}

// With the default weights a `prefer` label decides between nodes otherwise alike: a preferred
// node that joins a mature cluster replaces a holder once it has matured itself, not before.
TEST(ChooseHoldersTest, APreferredNodeReplacesAHolderOnceItIsMature) {
  RoleSpec ingress = role("ingress", table({{1, 1}}));
  ingress.prefer = {{"zone", "edge"}};
  RoleCandidate young = node("z-edge", 4, 1, 60);
  young.labels = {{"zone", "edge"}};
  RoleChoice c = chooseHolders(ingress, ScoreWeights{}, 0.2, {node("a", 4), young}, {"a"}, false);
  EXPECT_EQ(c.holders, (Strings{"a"})) << "5/6 + 0.25 is not 20% above 1 yet";
  young.uptime_s = 3600;
  c = chooseHolders(ingress, ScoreWeights{}, 0.2, {node("a", 4), young}, {"a"}, false);
  EXPECT_EQ(c.holders, (Strings{"z-edge"}));
}

TEST(ScoringTest, UnknownLatencyScoresHalf) {
  auto s = scoreCandidates(hub(), ScoreWeights{0, 0, 0, 1}, {node("a", 1, 1, 1, -1), node("b", 1, 1, 1, 4)});
  EXPECT_EQ(s[0].id, "b");
  EXPECT_DOUBLE_EQ(s[0].score, 1.0);
  EXPECT_EQ(s[1].id, "a");
  EXPECT_DOUBLE_EQ(s[1].score, 0.5);
}

TEST(ScoringTest, WeightsDecide) {
  std::vector<RoleCandidate> nodes{node("big-memory", 64, 2), node("many-cpus", 8, 32)};
  EXPECT_EQ(scoreCandidates(hub(), ScoreWeights{4, 1, 1, 1}, nodes).at(0).id, "big-memory");
  EXPECT_EQ(scoreCandidates(hub(), ScoreWeights{1, 4, 1, 1}, nodes).at(0).id, "many-cpus");
  RoleChoice c = chooseHolders(role("db", table({{1, 1}})), ScoreWeights{4, 1, 1, 1}, 0.2, nodes, {}, false);
  EXPECT_EQ(c.holders, (Strings{"big-memory"}));
}

TEST(ScoringTest, TiesGoToTheLowerId) {
  auto s = scoreCandidates(hub(), ScoreWeights{}, {node("c", 1), node("a", 1), node("b", 1)});
  EXPECT_EQ(s[0].id, "a");
  EXPECT_EQ(s[1].id, "b");
  EXPECT_EQ(s[2].id, "c");
}

TEST(ScoringTest, PreferBonusNeedsEveryLabel) {
  RoleSpec ingress = role("ingress", table({{1, 1}}));
  ingress.prefer = {{"zone", "edge"}, {"disk", "ssd"}};
  RoleCandidate both = node("both", 4);
  both.labels = {{"zone", "edge"}, {"disk", "ssd"}, {"x", "y"}};
  RoleCandidate one = node("one", 4);
  one.labels = {{"zone", "edge"}};
  auto s = scoreCandidates(ingress, ScoreWeights{}, {one, both, node("big", 8)});
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].id, "both");
  EXPECT_NEAR(s[0].score, (2 * 0.5 + 2 + 1 + 1) / 6.0 + 0.25, 1e-9);
  EXPECT_EQ(s[0].why, "memory 0.50 cpu 1.00 uptime 1.00 latency 1.00 prefer +0.25");
  EXPECT_EQ(s[1].id, "big");
  EXPECT_EQ(s[2].id, "one");
  EXPECT_EQ(s[2].why, "memory 0.50 cpu 1.00 uptime 1.00 latency 1.00");
}

TEST(ScoringTest, ForbiddenNodesAreNotEligibleNorNormalizedOver) {
  RoleSpec h = hub();
  h.forbid = {{"shoal/no-hub", "true"}, {"zone", "edge"}};
  RoleCandidate huge = node("huge", 256);
  huge.labels = {{"zone", "edge"}};
  RoleCandidate other_zone = node("other-zone", 4);
  other_zone.labels = {{"zone", "core"}, {"shoal/no-hub", "false"}};
  auto s = scoreCandidates(h, ScoreWeights{}, {huge, other_zone, node("small", 2)});
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].id, "other-zone");
  EXPECT_EQ(s[0].why, "memory 1.00 cpu 1.00 uptime 1.00 latency 1.00");  // not 4/256
  EXPECT_EQ(s[2].id, "huge");
  EXPECT_FALSE(s[2].eligible);
  EXPECT_EQ(s[2].why, "forbidden: zone=edge");
  RoleChoice c = chooseHolders(h, ScoreWeights{}, 0.2, {huge, other_zone, node("small", 2)}, {"huge"}, true);
  EXPECT_EQ(c.holders, (Strings{"other-zone"}));
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[0].remove, "huge");
  EXPECT_EQ(c.changes[0].reason, "node huge removed: forbidden: zone=edge");
  EXPECT_EQ(c.changes[1].add, "other-zone");
}

TEST(HysteresisTest, TenPercentBetterDoesNotReplaceAHolder) {
  RoleChoice c = chooseHolders(hub(), memoryOnly(), 0.2, {mem("a", 100), mem("c", 110)}, {"a"}, true);
  EXPECT_EQ(c.want, 1);
  EXPECT_EQ(c.holders, (Strings{"a"}));
  EXPECT_TRUE(c.changes.empty());
}

TEST(HysteresisTest, ThirtyPercentBetterReplacesAHolder) {
  RoleChoice c = chooseHolders(hub(), memoryOnly(), 0.2, {mem("a", 100), mem("c", 130)}, {"a"}, true);
  EXPECT_EQ(c.holders, (Strings{"c"}));
  ASSERT_EQ(c.changes.size(), 1u);
  const RoleChange& ch = c.changes[0];
  EXPECT_EQ(ch.add, "c");
  EXPECT_EQ(ch.remove, "a");
  EXPECT_DOUBLE_EQ(ch.add_score, 1.0);
  EXPECT_DOUBLE_EQ(ch.remove_score, 100.0 / 130);
  EXPECT_EQ(ch.reason, "node c (score 1.00) replaces node a (score 0.77): better by 30% (hysteresis 20%)");
}

TEST(HysteresisTest, ZeroHysteresisSwapsForAnyGain) {
  RoleChoice c = chooseHolders(hub(), memoryOnly(), 0, {mem("a", 100), mem("c", 101)}, {"a"}, true);
  EXPECT_EQ(c.holders, (Strings{"c"}));
  RoleChoice tie = chooseHolders(hub(), memoryOnly(), 0, {mem("a", 100), mem("c", 100)}, {"c"}, true);
  EXPECT_TRUE(tie.changes.empty());  // an equal score is no reason to move
}

TEST(HysteresisTest, TheBestChallengerReplacesTheWorstHolder) {
  std::vector<RoleCandidate> alive{mem("a", 50), mem("b", 60), mem("c", 70), mem("d", 100), mem("e", 65)};
  RoleChoice c = chooseHolders(role("ingress", table({{1, 3}})), memoryOnly(), 0.2, alive, {"a", "b", "c"}, false);
  EXPECT_EQ(c.holders, (Strings{"b", "c", "d"}));
  ASSERT_EQ(c.changes.size(), 1u);  // e (0.65) is not 20% above b (0.60)
  EXPECT_EQ(c.changes[0].add, "d");
  EXPECT_EQ(c.changes[0].remove, "a");
  EXPECT_EQ(c.changes[0].reason, "node d (score 1.00) replaces node a (score 0.50): better by 100% (hysteresis 20%)");
}

TEST(HysteresisTest, SwapsRepeatWhileAChallengerClearsTheBar) {
  std::vector<RoleCandidate> alive{mem("a", 10), mem("b", 20), mem("x", 100), mem("y", 90)};
  RoleChoice c = chooseHolders(role("ingress", table({{1, 2}})), memoryOnly(), 0.2, alive, {"a", "b"}, false);
  EXPECT_EQ(c.holders, (Strings{"x", "y"}));
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[0].add, "x");
  EXPECT_EQ(c.changes[0].remove, "a");
  EXPECT_EQ(c.changes[1].add, "y");
  EXPECT_EQ(c.changes[1].remove, "b");
}

TEST(ChooseHoldersTest, GoneHoldersAreRemovedFirst) {
  std::vector<RoleCandidate> alive{node("a", 1), node("b", 2), node("c", 8)};
  RoleChoice c = chooseHolders(hub(), ScoreWeights{}, 0.2, alive, {"a", "x", "b"}, true);
  EXPECT_EQ(c.want, 3);
  EXPECT_EQ(c.holders, (Strings{"a", "b", "c"}));
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[0].add, "");
  EXPECT_EQ(c.changes[0].remove, "x");
  EXPECT_EQ(c.changes[0].reason, "node x removed: gone");
  EXPECT_EQ(c.changes[1].add, "c");
  EXPECT_EQ(c.changes[1].remove, "");
}

TEST(ChooseHoldersTest, AdditionsSayTheCount) {
  std::vector<RoleCandidate> alive{mem("a", 100), mem("b", 80), mem("c", 50), mem("d", 40), mem("e", 30)};
  RoleChoice c = chooseHolders(hub(), memoryOnly(), 0.2, alive, {"c", "d"}, true);
  EXPECT_EQ(c.want, 3);
  EXPECT_EQ(c.holders, (Strings{"a", "b", "c"}));
  ASSERT_EQ(c.changes.size(), 2u);
  // The count is met first (the best candidate added), then b (0.80) replaces d (0.40).
  EXPECT_EQ(c.changes[0].reason, "node a (score 1.00) added: hub count for 5 nodes is 3, holders 2");
  EXPECT_EQ(c.changes[1].reason, "node b (score 0.80) replaces node d (score 0.40): better by 100% (hysteresis 20%)");
}

TEST(ChooseHoldersTest, TheWorstHoldersAreRemovedWhenTheCountFalls) {
  std::vector<RoleCandidate> alive{mem("a", 100), mem("b", 62)};
  RoleChoice c = chooseHolders(hub(), memoryOnly(), 0.2, alive, {"a", "b"}, true);
  EXPECT_EQ(c.want, 1);
  EXPECT_EQ(c.holders, (Strings{"a"}));
  ASSERT_EQ(c.changes.size(), 1u);
  EXPECT_EQ(c.changes[0].remove, "b");
  EXPECT_DOUBLE_EQ(c.changes[0].remove_score, 0.62);
  EXPECT_EQ(c.changes[0].reason, "node b (score 0.62) removed: hub count for 2 nodes is 1, holders 2");
}

TEST(ChooseHoldersTest, EligibilityCapsTheCountAndKeepsHubsOdd) {
  RoleSpec h = hub();
  h.forbid = {{"shoal/no-hub", "true"}};
  std::vector<RoleCandidate> alive;
  for (const char* id : {"a", "b", "c", "d", "e"}) alive.push_back(node(id, 1));
  for (int i = 0; i < 3; ++i) alive[i].labels["shoal/no-hub"] = "true";
  RoleChoice c = chooseHolders(h, ScoreWeights{}, 0.2, alive, {}, true);
  EXPECT_EQ(c.want, 1);  // 2 eligible: never 2 hubs
  EXPECT_EQ(c.holders, (Strings{"d"}));
  ASSERT_EQ(c.changes.size(), 1u);
  EXPECT_EQ(c.changes[0].reason, "node d (score 1.00) added: hub count for 5 nodes is 1 (2 eligible), holders 0");
  RoleSpec ingress = role("ingress", table({{1, 3}}));
  ingress.forbid = h.forbid;
  RoleChoice r = chooseHolders(ingress, ScoreWeights{}, 0.2, alive, {}, false);
  EXPECT_EQ(r.want, 2);
  EXPECT_EQ(r.holders, (Strings{"d", "e"}));
}

TEST(ChooseHoldersTest, NoEligibleNodeMeansNoHolders) {
  RoleSpec h = hub();
  h.forbid = {{"zone", "edge"}};
  RoleCandidate a = node("a", 1);
  a.labels["zone"] = "edge";
  RoleChoice c = chooseHolders(h, ScoreWeights{}, 0.2, {a}, {"a"}, true);
  EXPECT_EQ(c.want, 0);
  EXPECT_TRUE(c.holders.empty());
  EXPECT_EQ(c.changes.size(), 1u);
  EXPECT_TRUE(chooseHolders(hub(), ScoreWeights{}, 0.2, {}, {"gone"}, true).holders.empty());
}

TEST(ChooseHoldersTest, EveryNodeRoleHoldsAllEligible) {
  RoleSpec r = role("ingress", everyNode());
  r.forbid = {{"zone", "db"}};
  std::vector<RoleCandidate> alive{node("a", 1), node("b", 1), node("c", 1)};
  alive[1].labels["zone"] = "db";
  RoleChoice c = chooseHolders(r, ScoreWeights{}, 0.2, alive, {}, false);
  EXPECT_EQ(c.holders, (Strings{"a", "c"}));
}

// A random cluster: facts from small ranges (so ties happen), labels from a few values, holders
// partly gone.
struct World {
  RoleSpec role;
  ScoreWeights weights;
  double hysteresis = 0.2;
  std::vector<RoleCandidate> alive;
  Strings current;
  bool hub = false;
};

World randomWorld(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  World w;
  w.hub = pick(0, 1) == 1;
  RoleCount count;
  if (pick(0, 4) == 0) {
    count.every_node = true;
  } else {
    count.table[1] = pick(1, 4);
    for (int k = 2; k <= 12; ++k)
      if (pick(0, 3) == 0) count.table[k] = pick(1, 8);
  }
  w.role = role(w.hub ? "hub" : "ingress", count);
  const Strings zones{"a", "b", "edge"};
  if (pick(0, 2) == 0) w.role.forbid["zone"] = zones[pick(0, 2)];
  if (pick(0, 2) == 0) w.role.prefer["zone"] = zones[pick(0, 2)];
  w.weights = ScoreWeights{double(pick(0, 3)), double(pick(0, 3)), double(pick(0, 3)), double(pick(0, 3))};
  w.hysteresis = pick(0, 5) / 10.0;
  int n = pick(0, 12);
  for (int i = 0; i < n; ++i) {
    RoleCandidate c{"n" + std::to_string(i), double(pick(0, 4)), int64_t{pick(0, 4)} * kGiB, pick(0, 3) * 100,
                    pick(0, 4) == 0 ? -1.0 : pick(0, 20) / 2.0, {}};
    if (pick(0, 1) == 1) c.labels["zone"] = zones[pick(0, 2)];
    w.alive.push_back(c);
    if (pick(0, 2) == 0) w.current.push_back(c.id);
  }
  for (int i = pick(0, 2); i > 0; --i) w.current.push_back("gone" + std::to_string(i));
  std::shuffle(w.current.begin(), w.current.end(), rng);
  return w;
}

RoleChoice choose(const World& w, const Strings& current) {
  return chooseHolders(w.role, w.weights, w.hysteresis, w.alive, current, w.hub);
}

void checkInvariants(const World& w, const RoleChoice& c) {
  std::set<std::string> eligible;
  for (const auto& s : c.scores)
    if (s.eligible) eligible.insert(s.id);
  int nodes = static_cast<int>(w.alive.size());
  int asked = w.hub ? hubCount(w.role.count, nodes) : roleCount(w.role.count, nodes);
  int expect = std::min(asked, static_cast<int>(eligible.size()));
  if (w.hub && expect % 2 == 0 && expect > 0) --expect;
  EXPECT_EQ(c.want, expect);
  EXPECT_EQ(static_cast<int>(c.holders.size()), c.want);
  if (w.hub && !eligible.empty()) {
    EXPECT_EQ(c.want % 2, 1) << "even hub count " << c.want;
  }
  EXPECT_TRUE(std::is_sorted(c.holders.begin(), c.holders.end()));
  for (const auto& h : c.holders) EXPECT_TRUE(eligible.contains(h)) << h << " is forbidden or not alive";
  // The changes lead from `current` to `holders`.
  std::set<std::string> state(w.current.begin(), w.current.end());
  for (const auto& ch : c.changes) {
    EXPECT_FALSE(ch.reason.empty());
    if (!ch.remove.empty()) {
      EXPECT_EQ(state.erase(ch.remove), 1u) << ch.reason;
    }
    if (!ch.add.empty()) {
      EXPECT_TRUE(state.insert(ch.add).second) << ch.reason;
    }
  }
  EXPECT_EQ(Strings(state.begin(), state.end()), c.holders);
}

TEST(ChooseHoldersRandomTest, InvariantsStabilityAndDeterminism) {
  for (uint32_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    World w = randomWorld(rng);
    RoleChoice c = choose(w, w.current);
    checkInvariants(w, c);
    // Stable: the target fed back as the current holders changes nothing.
    RoleChoice again = choose(w, c.holders);
    EXPECT_TRUE(again.changes.empty()) << again.changes.at(0).reason;
    EXPECT_EQ(again.holders, c.holders);
    // Deterministic: the order the members are listed in does not matter.
    World shuffled = w;
    std::shuffle(shuffled.alive.begin(), shuffled.alive.end(), rng);
    EXPECT_EQ(choose(shuffled, w.current).holders, c.holders);
    if (HasFailure()) break;  // one seed's story is enough to debug
  }
}

}  // namespace
}  // namespace shoal
