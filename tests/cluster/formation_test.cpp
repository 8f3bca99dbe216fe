// The formation and merge rules (cluster/formation.h): the cases of doc/membership.md, then seeded
// randomized worlds of nodes that start at random times, die, and see each other through
// partitions that heal; every world must end as one cluster.
#include "cluster/formation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace shoal {
namespace {

TimePoint at(int64_t ms) { return TimePoint(Duration(ms)); }

std::vector<ProbeAnswer> bare(const std::vector<std::string>& ids) {
  std::vector<ProbeAnswer> out;
  for (const auto& id : ids) out.push_back({"addr-" + id, id, std::nullopt, {}});
  return out;
}

// Feeds the same answers every 500 ms from t=0 to t=until; returns the last decision.
FormationDecision runRounds(const std::string& self, const std::vector<ProbeAnswer>& answers, int64_t until,
                            FormationOptions options = {}) {
  Formation f(self, at(0), options);
  FormationDecision d;
  for (int64_t t = 0; t <= until; t += 500) d = f.step(answers, at(t));
  return d;
}

TEST(Formation, ANodeAloneOriginatesAfterTheStableWindow) {
  EXPECT_EQ(runRounds("m", {}, 2500).kind, FormationKind::kWait);
  auto d = runRounds("m", {}, 3000);
  EXPECT_EQ(d.kind, FormationKind::kOriginate);
  EXPECT_EQ(d.reason, "no peer seen: originating alone");
}

TEST(Formation, NoSourceOriginatesAtOnce) {
  Formation f("m", at(0), {.stable_for = Duration(3000), .contacts = 1, .has_sources = false});
  auto d = f.step({}, at(0));
  EXPECT_EQ(d.kind, FormationKind::kOriginate);
  EXPECT_EQ(d.reason, "no discovery source: originating alone");
}

TEST(Formation, TheLowestIdOriginatesTheOthersWait) {
  auto all = bare({"c", "a", "b"});
  EXPECT_EQ(runRounds("a", all, 5000).kind, FormationKind::kOriginate);
  auto b = runRounds("b", all, 5000);
  EXPECT_EQ(b.kind, FormationKind::kWait);
  EXPECT_EQ(b.reason, "waiting for a (lowest id) to originate");
  EXPECT_EQ(runRounds("c", bare({"a", "b"}), 5000).kind, FormationKind::kWait);
}

TEST(Formation, ItsOwnAnswerIsNotAnotherNode) {
  // Discovery lists the node itself too: probing it answers with its own id.
  EXPECT_EQ(runRounds("a", bare({"a"}), 3000).reason, "no peer seen: originating alone");
}

TEST(Formation, AChangeInWhatIsSeenRestartsTheWindow) {
  Formation f("b", at(0), {});
  f.step(bare({"a"}), at(2900));
  EXPECT_EQ(f.stableSince(), at(2900)) << "a appeared";
  f.step({}, at(3000));
  EXPECT_EQ(f.stableSince(), at(2900)) << "one missed answer is not a change";
  auto d = f.step({}, at(5000));
  EXPECT_EQ(f.stableSince(), at(5000)) << "a silent for 2 s: forgotten, stability starts over";
  EXPECT_EQ(d.kind, FormationKind::kWait);
  EXPECT_EQ(f.step({}, at(8000)).kind, FormationKind::kOriginate) << "the dead lowest is not waited for";
}

TEST(Formation, ContactsMustBeSeenBeforeForming) {
  auto d = runRounds("a", bare({"b"}), 10000, {.stable_for = Duration(1000), .contacts = 3});
  EXPECT_EQ(d.kind, FormationKind::kWait);
  EXPECT_EQ(d.reason, "seeing 2 nodes, need 3 contacts before forming");
  EXPECT_EQ(runRounds("a", bare({"b", "c"}), 10000, {.stable_for = Duration(1000), .contacts = 3}).kind,
            FormationKind::kOriginate);
}

TEST(Formation, AClusterSeenIsJoinedAtOnceWithTheHubsOfEveryAnswer) {
  ClusterInfo c{"c1", "prod", 10, "a", 2};
  Formation f("z", at(0), {});
  auto d = f.step({{"x:1", "a", c, {"https://h1:2379"}}, {"x:2", "b", std::nullopt, {}},
                   {"x:3", "d", c, {"https://h1:2379", "https://h2:2379"}}},
                  at(0));
  ASSERT_EQ(d.kind, FormationKind::kJoin);
  EXPECT_EQ(*d.cluster, c);
  EXPECT_EQ(d.hubs, (std::vector<std::string>{"https://h1:2379", "https://h2:2379"}));
  EXPECT_EQ(d.reason, "joining cluster c1 (2 nodes, origin a)");
}

TEST(Formation, AnIgnoredClusterIsNotJoined) {
  ClusterInfo big{"big", "", 1, "a", 5}, small{"small", "", 2, "b", 1};
  Formation f("z", at(0), {});
  auto d = f.step({{"x:1", "a", big, {"h1"}}, {"x:2", "b", small, {"h2"}}}, at(0), {"big"});
  ASSERT_EQ(d.kind, FormationKind::kJoin);
  EXPECT_EQ(d.cluster->id, "small");
  EXPECT_EQ(f.step({{"x:1", "a", big, {"h1"}}}, at(500), {"big"}).kind, FormationKind::kWait);
}

TEST(Formation, MembersOfAnIgnoredClusterAreNotWaitedFor) {
  ClusterInfo dead{"dead", "", 1, "a", 1};
  Formation f("b", at(0), {});
  FormationDecision d;
  for (int64_t t = 0; t <= 3000; t += 500) d = f.step({{"x:1", "a", dead, {"h"}}}, at(t), {"dead"});
  EXPECT_EQ(d.kind, FormationKind::kOriginate) << d.reason;
}

TEST(Formation, ClustersAreOrderedBySizeThenAgeThenId) {
  EXPECT_TRUE(betterCluster({"z", "", 99, "", 3}, {"a", "", 1, "", 2}));
  EXPECT_TRUE(betterCluster({"z", "", 1, "", 2}, {"a", "", 5, "", 2}));
  EXPECT_TRUE(betterCluster({"a", "", 1, "", 2}, {"b", "", 1, "", 2}));
  EXPECT_FALSE(betterCluster({"a", "", 1, "", 2}, {"a", "", 1, "", 2}));
  EXPECT_FALSE(betterCluster({"a", "", 1, "", 9}, {"a", "", 1, "", 2})) << "two views of one cluster";
}

TEST(Formation, MergeGoesToTheBetterClusterOnly) {
  ClusterInfo small{"s", "", 1, "x", 1}, big{"b", "", 5, "y", 3};
  auto m = mergeTarget(small, {{"x:1", "y", big, {"h"}}});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->cluster->id, "b");
  EXPECT_EQ(m->hubs, std::vector<std::string>{"h"});
  EXPECT_FALSE(mergeTarget(big, {{"x:1", "x", small, {}}}).has_value()) << "the bigger stays";
  EXPECT_FALSE(mergeTarget(small, {{"x:1", "x", small, {}}}).has_value()) << "never its own cluster";
  EXPECT_FALSE(mergeTarget(small, {{"x:1", "y", big, {}}}, {"b"}).has_value()) << "not an ignored one";
}

ClusterInfo randomCluster(std::mt19937& rng) {
  const char* ids[] = {"a", "b", "c", "d"};
  return {ids[rng() % 4], "", static_cast<int64_t>(rng() % 6), "", static_cast<int>(1 + rng() % 6)};
}

TEST(Formation, BetterIsAStrictTotalOrderAcrossClusters) {
  for (unsigned seed = 0; seed < 2000; ++seed) {
    std::mt19937 rng(seed);
    auto x = randomCluster(rng), y = randomCluster(rng);
    SCOPED_TRACE("seed " + std::to_string(seed));
    EXPECT_FALSE(betterCluster(x, y) && betterCluster(y, x));
    if (x.id != y.id) {
      EXPECT_NE(betterCluster(x, y), betterCluster(y, x));
    }
    auto z = randomCluster(rng);
    if (betterCluster(x, y) && betterCluster(y, z) && x.id != z.id) {
      EXPECT_TRUE(betterCluster(x, z));
    }
  }
}

TEST(Formation, TwoClustersNeverDissolveIntoEachOther) {
  for (unsigned seed = 0; seed < 2000; ++seed) {
    std::mt19937 rng(seed);
    auto x = randomCluster(rng), y = randomCluster(rng);
    x.id = "x";
    y.id = "y";
    SCOPED_TRACE("seed " + std::to_string(seed));
    EXPECT_FALSE(mergeTarget(x, {{"n:1", "n", y, {}}}) && mergeTarget(y, {{"m:1", "m", x, {}}}));
  }
}

TEST(Formation, ExactlyOneOfAStableGroupOriginates) {
  for (unsigned seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    std::set<std::string> ids;
    int n = 1 + static_cast<int>(rng() % 8);
    while (static_cast<int>(ids.size()) < n) ids.insert(std::to_string(rng() % 100000));
    int originators = 0;
    for (const auto& self : ids) {
      std::vector<std::string> others;
      for (const auto& i : ids)
        if (i != self) others.push_back(i);
      if (runRounds(self, bare(others), 4000).kind == FormationKind::kOriginate) ++originators;
    }
    EXPECT_EQ(originators, 1) << "seed " << seed << ", " << n << " nodes";
  }
}

// ---- A world of nodes stepping in rounds of 500 ms.
//
// Each node starts at a random round, some die at random (before or after joining), and until
// `heal_at` the nodes are split into two groups that cannot see each other. A member answers
// probes with its cluster (size = live members); the origin of each cluster checks for a better
// one every round and, when it dissolves, every member of its cluster starts discovering again
// (they follow their hub). After the heal every live node must end in one single cluster.
struct WorldNode {
  std::string id;
  int group = 0;
  int64_t start = 0, death = -1;
  std::optional<Formation> formation;
  std::string cluster;  // empty: discovering
};

struct World {
  std::map<std::string, ClusterInfo> clusters;
  std::vector<WorldNode> nodes;

  bool alive(const WorldNode& n, int64_t t) const { return t >= n.start && (n.death < 0 || t < n.death); }
  int size(const std::string& cluster, int64_t t) const {
    int s = 0;
    for (const auto& n : nodes) s += alive(n, t) && n.cluster == cluster;
    return s;
  }
  std::vector<ProbeAnswer> probe(const WorldNode& self, int64_t t, bool healed) const {
    std::vector<ProbeAnswer> out;
    for (const auto& n : nodes) {
      if (&n == &self || !alive(n, t) || (!healed && n.group != self.group)) continue;
      ProbeAnswer a{"addr-" + n.id, n.id, std::nullopt, {}};
      if (!n.cluster.empty()) {
        ClusterInfo c = clusters.at(n.cluster);
        c.size = size(n.cluster, t);
        a.cluster = c;
        a.hubs = {"etcd-" + c.origin};
      }
      out.push_back(a);
    }
    return out;
  }
};

TEST(Formation, RandomWorldsEndAsOneCluster) {
  for (unsigned seed = 0; seed < 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    World w;
    int n = 1 + static_cast<int>(rng() % 9);
    bool split = rng() % 2;
    int64_t heal_at = split ? 500 * static_cast<int64_t>(rng() % 40) : 0;
    for (int i = 0; i < n; ++i) {
      WorldNode node;
      node.id = std::to_string(1000 + rng() % 9000) + "-" + std::to_string(i);
      node.group = split ? static_cast<int>(rng() % 2) : 0;
      node.start = 500 * static_cast<int64_t>(rng() % 12);
      if (rng() % 5 == 0) node.death = node.start + 500 * static_cast<int64_t>(rng() % 16);
      w.nodes.push_back(node);
    }
    if (std::all_of(w.nodes.begin(), w.nodes.end(), [](const WorldNode& x) { return x.death >= 0; }))
      w.nodes[0].death = -1;  // at least one node lives

    const int64_t end = 60000;
    for (int64_t t = 0; t <= end; t += 500) {
      bool healed = t >= heal_at;
      for (auto& node : w.nodes) {
        if (!w.alive(node, t)) {
          node.cluster.clear();
          continue;
        }
        if (!node.formation) node.formation.emplace(node.id, at(t), FormationOptions{});
        if (node.cluster.empty()) {
          auto d = node.formation->step(w.probe(node, t, healed), at(t));
          if (d.kind == FormationKind::kOriginate) {
            node.cluster = "c-" + node.id + "-" + std::to_string(t);
            w.clusters[node.cluster] = {node.cluster, "", t, node.id, 1};
          } else if (d.kind == FormationKind::kJoin) {
            node.cluster = d.cluster->id;
          }
          continue;
        }
        // A member whose origin is dead (the one hub is gone) starts discovering again.
        const ClusterInfo& own = w.clusters.at(node.cluster);
        auto origin = std::find_if(w.nodes.begin(), w.nodes.end(),
                                   [&](const WorldNode& x) { return x.id == own.origin; });
        if (!w.alive(*origin, t) || origin->cluster != node.cluster) {
          node.cluster.clear();
          node.formation.emplace(node.id, at(t), FormationOptions{});
          continue;
        }
        if (own.origin != node.id) continue;
        ClusterInfo mine = own;
        mine.size = w.size(node.cluster, t);
        if (auto m = mergeTarget(mine, w.probe(node, t, healed))) {
          // Leave, then join the better one; the members follow next round.
          node.cluster = m->cluster->id;
        }
      }
    }
    std::set<std::string> final_clusters;
    int live = 0;
    for (const auto& node : w.nodes) {
      if (!w.alive(node, end)) continue;
      ++live;
      EXPECT_FALSE(node.cluster.empty()) << node.id << " still discovering";
      final_clusters.insert(node.cluster);
    }
    EXPECT_EQ(final_clusters.size(), 1u) << live << " live nodes in " << final_clusters.size() << " clusters";
  }
}

}  // namespace
}  // namespace shoal
