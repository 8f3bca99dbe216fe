// cluster.yaml's roles, scoring, quorum_loss and rebalance: what valid files build, and the exact
// message of each mistake.
#include <gtest/gtest.h>

#include "tests/schemas/spec_test_util.h"

namespace shoal::test {
namespace {

using Labels = std::map<std::string, std::string>;

ClusterSpec loadCluster(const std::string& text) { return Commit().with("cluster.yaml", text).spec().cluster; }
Errors clusterErrors(const std::string& text) { return Commit().with("cluster.yaml", text).errors(); }

RoleCount table(std::map<int, int> t) { return RoleCount{false, std::move(t)}; }

TEST(ClusterRolesTest, Defaults) {
  ClusterSpec c = loadCluster("{}\n");
  ASSERT_EQ(c.roles.size(), 1u);
  EXPECT_EQ(c.roles[0], (RoleSpec{"hub", defaultHubCount(), {}, {}}));
  EXPECT_EQ(c.hubRole().count, table({{1, 1}, {3, 3}, {7, 5}}));
  EXPECT_EQ(c.weights, (ScoreWeights{2, 2, 1, 1}));
  EXPECT_DOUBLE_EQ(c.hysteresis, 0.2);
  EXPECT_EQ(c.quorum_loss, QuorumLoss::kWait);
  EXPECT_EQ(c.recover_after, Duration(0));
  EXPECT_FALSE(c.rebalance);
  // A default-constructed spec (a standalone node's) has the hub role too.
  EXPECT_EQ(ClusterSpec{}.roles, c.roles);
}

// The example of doc/config.md.
TEST(ClusterRolesTest, EverySection) {
  ClusterSpec c = loadCluster(
      "roles:\n"
      "  hub:\n"
      "    count: {1: 1, 3: 3, 7: 5}\n"
      "    forbid: {shoal/no-hub: \"true\"}\n"
      "  ingress:\n"
      "    count: every-node\n"
      "    prefer: {zone: edge}\n"
      "scoring:\n"
      "  weights: {memory: 2, cpu: 2, uptime: 1, latency: 1}\n"
      "  hysteresis: 20%\n"
      "quorum_loss: wait\n"
      "rebalance: false\n");
  ASSERT_EQ(c.roles.size(), 2u);
  EXPECT_EQ(c.roles[0], (RoleSpec{"hub", table({{1, 1}, {3, 3}, {7, 5}}), {{"shoal/no-hub", "true"}}, {}}));
  EXPECT_EQ(c.roles[1], (RoleSpec{"ingress", RoleCount{true, {}}, {}, {{"zone", "edge"}}}));
  EXPECT_EQ(c.hubRole().forbid, (Labels{{"shoal/no-hub", "true"}}));
  EXPECT_EQ(c.weights, (ScoreWeights{2, 2, 1, 1}));
  EXPECT_DOUBLE_EQ(c.hysteresis, 0.2);
  EXPECT_EQ(c.quorum_loss, QuorumLoss::kWait);
  EXPECT_FALSE(c.rebalance);
}

TEST(ClusterRolesTest, RolesSortedByNameWithHubAddedWhenNotWritten) {
  ClusterSpec c = loadCluster("roles:\n  web: {count: 1}\n  db: {count: {1: 1, 4: 2}, forbid: {disk: hdd}}\n");
  ASSERT_EQ(c.roles.size(), 3u);
  EXPECT_EQ(c.roles[0], (RoleSpec{"db", table({{1, 1}, {4, 2}}), {{"disk", "hdd"}}, {}}));
  EXPECT_EQ(c.roles[1], (RoleSpec{"hub", defaultHubCount(), {}, {}}));
  EXPECT_EQ(c.roles[2], (RoleSpec{"web", table({{1, 1}}), {}, {}}));
}

TEST(ClusterRolesTest, CountForms) {
  EXPECT_EQ(loadCluster("roles:\n  a: {count: 4}\n").roles[0].count, table({{1, 4}}));  // a plain number = {1: n}
  EXPECT_EQ(loadCluster("roles:\n  a: {count: every-node}\n").roles[0].count, (RoleCount{true, {}}));
  EXPECT_EQ(loadCluster("roles:\n  a:\n    count:\n      1: 1\n      10: 2\n").roles[0].count, table({{1, 1}, {10, 2}}));
  // Hubs: a count given replaces the default; forbid alone keeps it.
  EXPECT_EQ(loadCluster("roles:\n  hub: {count: 3}\n").hubRole().count, table({{1, 3}}));
  EXPECT_EQ(loadCluster("roles:\n  hub: {count: every-node}\n").hubRole().count, (RoleCount{true, {}}));
  EXPECT_EQ(loadCluster("roles:\n  hub: {forbid: {zone: edge}}\n").hubRole().count, defaultHubCount());
}

TEST(ClusterRolesTest, ScoringForms) {
  EXPECT_DOUBLE_EQ(loadCluster("scoring: {hysteresis: 0.35}\n").hysteresis, 0.35);
  EXPECT_DOUBLE_EQ(loadCluster("scoring: {hysteresis: 12.5%}\n").hysteresis, 0.125);
  EXPECT_DOUBLE_EQ(loadCluster("scoring: {hysteresis: 0}\n").hysteresis, 0);
  EXPECT_DOUBLE_EQ(loadCluster("scoring: {hysteresis: 1}\n").hysteresis, 1);
  EXPECT_DOUBLE_EQ(loadCluster("scoring: {hysteresis: 100%}\n").hysteresis, 1);
  EXPECT_EQ(loadCluster("scoring: {mature_after: 10m}\n").weights.mature_after_s, 600);
  EXPECT_EQ(loadCluster("scoring: {mature_after: 2d}\n").weights.mature_after_s, 172800);
  EXPECT_EQ(loadCluster("{}\n").weights.mature_after_s, 3600);
  // Unwritten weights keep their defaults; one of them may be 0.
  EXPECT_EQ(loadCluster("scoring:\n  weights: {memory: 0, latency: 2.5}\n").weights, (ScoreWeights{0, 2, 1, 2.5}));
  EXPECT_EQ(loadCluster("scoring: {}\n").weights, ScoreWeights{});
}

TEST(ClusterRolesTest, QuorumLossRecoverAndRebalance) {
  ClusterSpec c = loadCluster("quorum_loss: {recover_after: 30s}\nrebalance: true\n");
  EXPECT_EQ(c.quorum_loss, QuorumLoss::kRecover);
  EXPECT_EQ(c.recover_after, Duration(30000));
  EXPECT_TRUE(c.rebalance);
}

TEST(ClusterRolesErrorsTest, HubCountsMustBeOdd) {
  EXPECT_EQ(clusterErrors("roles:\n  hub:\n    count: 2\n"),
            (Errors{"cluster.yaml:3:12: roles.hub.count: hub counts must be odd (an even number of etcd voters "
                    "survives no more failures than one fewer), got 2"}));
  EXPECT_EQ(clusterErrors("roles:\n  hub:\n    count: {1: 1, 3: 4}\n"),
            (Errors{"cluster.yaml:3:22: roles.hub.count.3: hub counts must be odd (an even number of etcd voters "
                    "survives no more failures than one fewer), got 4"}));
  // Other roles may hold any count.
  EXPECT_EQ(clusterErrors("roles:\n  ingress:\n    count: {1: 2, 3: 4}\n"), Errors{});
}

TEST(ClusterRolesErrorsTest, TableMustStartAtOneNode) {
  EXPECT_EQ(clusterErrors("roles:\n  ingress:\n    count: {3: 3}\n"),
            (Errors{"cluster.yaml:3:12: roles.ingress.count: needs an entry for 1 node: a cluster starts with one "
                    "node"}));
  EXPECT_EQ(clusterErrors("roles:\n  ingress:\n    count: {}\n"),
            (Errors{"cluster.yaml:3:12: roles.ingress.count: needs at least one entry, like {1: 1}"}));
}

TEST(ClusterRolesErrorsTest, TableKeysAndCounts) {
  EXPECT_EQ(clusterErrors("roles:\n  ingress:\n    count: {0: 1, 1: 1, 01: 2, x: 3}\n"),
            (Errors{"cluster.yaml:3:13: roles.ingress.count.0: must be a number of nodes from 1 to 999999, got \"0\"",
                    "cluster.yaml:3:25: roles.ingress.count.01: must be a number of nodes from 1 to 999999, got "
                    "\"01\"",
                    "cluster.yaml:3:32: roles.ingress.count.x: must be a number of nodes from 1 to 999999, got "
                    "\"x\""}));
  // A bad count at 1 is reported once: the entry is there.
  EXPECT_EQ(clusterErrors("roles:\n  ingress:\n    count: {1: 0, 3: two}\n"),
            (Errors{"cluster.yaml:3:16: roles.ingress.count.1: must be at least 1, got 0",
                    "cluster.yaml:3:22: roles.ingress.count.3: expected an integer, got \"two\""}));
}

TEST(ClusterRolesErrorsTest, CountOfWrongKind) {
  EXPECT_EQ(clusterErrors("roles:\n  a: {count: 0}\n  b: {count: all}\n  c: {count: 2.5}\n  d: {count: [1]}\n"),
            (Errors{"cluster.yaml:2:14: roles.a.count: must be at least 1, got 0",
                    "cluster.yaml:3:14: roles.b.count: expected one of every-node, got \"all\"",
                    "cluster.yaml:4:14: roles.c.count: expected a string, an integer or a map, got 2.5",
                    "cluster.yaml:5:14: roles.d.count: expected a string, an integer or a map, got a list"}));
}

TEST(ClusterRolesErrorsTest, CountRequiredExceptForHub) {
  EXPECT_EQ(clusterErrors("roles:\n  hub: {}\n  ingress:\n    prefer: {zone: edge}\n"),
            (Errors{"cluster.yaml:4:5: roles.ingress.count: required (only hub has a default count)"}));
}

TEST(ClusterRolesErrorsTest, RoleNamesAndKeys) {
  EXPECT_EQ(clusterErrors("roles:\n  Edge_1: {count: 1}\n  ingress: {counts: 1, count: 1}\n  web: 3\n"),
            (Errors{"cluster.yaml:2:3: roles.Edge_1: must be a role name: 1-63 lowercase letters, digits or '-', "
                    "starting with a letter or digit, got \"Edge_1\"",
                    "cluster.yaml:3:13: roles.ingress.counts: unknown key; expected one of: count, forbid, prefer",
                    "cluster.yaml:4:8: roles.web: expected a map, got 3"}));
  EXPECT_EQ(clusterErrors("roles: [hub]\n"), (Errors{"cluster.yaml:1:8: roles: expected a map, got a list"}));
}

TEST(ClusterRolesErrorsTest, ForbidAndPreferAreLabels) {
  EXPECT_EQ(clusterErrors("roles:\n  hub:\n    forbid: {shoal/no-hub: true}\n    prefer: {\"a b\": c}\n"),
            (Errors{"cluster.yaml:3:28: roles.hub.forbid.shoal/no-hub: expected a string, got true",
                    "cluster.yaml:4:14: roles.hub.prefer.a b: must be a label key: up to 63 letters, digits, '-', '_' "
                    "or '.', starting and ending with a letter or digit, after an optional DNS prefix like "
                    "example.com/, got \"a b\""}));
}

TEST(ClusterRolesErrorsTest, Weights) {
  EXPECT_EQ(clusterErrors("scoring:\n  weights: {memory: 0, cpu: 0, uptime: 0, latency: 0}\n"),
            (Errors{"cluster.yaml:2:12: scoring.weights: the weights can't all be 0: every node would score the "
                    "same"}));
  EXPECT_EQ(clusterErrors("scoring:\n  weights: {memory: -1, cpu: x, disk: 1, uptime: 5000, latency: .nan}\n"),
            (Errors{"cluster.yaml:2:21: scoring.weights.memory: must be at least 0, got -1",
                    "cluster.yaml:2:30: scoring.weights.cpu: expected a number, got \"x\"",
                    "cluster.yaml:2:33: scoring.weights.disk: unknown key; expected one of: cpu, latency, memory, "
                    "uptime",
                    "cluster.yaml:2:50: scoring.weights.uptime: must be at most 1000, got 5000",
                    "cluster.yaml:2:65: scoring.weights.latency: must be a finite number, got .nan"}));
}

TEST(ClusterRolesErrorsTest, MatureAfter) {
  EXPECT_EQ(clusterErrors("scoring: {mature_after: 0s}\n"),
            (Errors{"cluster.yaml:1:25: scoring.mature_after: must be at least 1s, got 0s"}));
  EXPECT_EQ(clusterErrors("scoring: {mature_after: 500ms}\n"),
            (Errors{"cluster.yaml:1:25: scoring.mature_after: must be at least 1s, got 500ms"}));
  EXPECT_EQ(clusterErrors("scoring: {mature_after: soon}\n"),
            (Errors{"cluster.yaml:1:25: scoring.mature_after: expected a duration like 500ms, 2s, 5m, got \"soon\""}));
}

TEST(ClusterRolesErrorsTest, Hysteresis) {
  EXPECT_EQ(clusterErrors("scoring: {hysteresis: 150%}\n"),
            (Errors{"cluster.yaml:1:23: scoring.hysteresis: expected a percentage from 0% to 100% like 20%, got "
                    "\"150%\""}));
  EXPECT_EQ(clusterErrors("scoring: {hysteresis: \"20\"}\n"),
            (Errors{"cluster.yaml:1:23: scoring.hysteresis: expected a percentage from 0% to 100% like 20%, got "
                    "\"20\""}));
  EXPECT_EQ(clusterErrors("scoring: {hysteresis: 20}\n"),
            (Errors{"cluster.yaml:1:23: scoring.hysteresis: must be at most 1, got 20"}));
  EXPECT_EQ(clusterErrors("scoring: {hysteresis: -0.1}\n"),
            (Errors{"cluster.yaml:1:23: scoring.hysteresis: must be at least 0, got -0.1"}));
  EXPECT_EQ(clusterErrors("scoring: {hysteresis: [20%]}\n"),
            (Errors{"cluster.yaml:1:23: scoring.hysteresis: expected a string or a number, got a list"}));
}

TEST(ClusterRolesErrorsTest, QuorumLoss) {
  EXPECT_EQ(clusterErrors("quorum_loss: recover\n"),
            (Errors{"cluster.yaml:1:14: quorum_loss: expected one of wait, got \"recover\""}));
  EXPECT_EQ(clusterErrors("quorum_loss: {}\n"), (Errors{"cluster.yaml:1:14: quorum_loss.recover_after: required"}));
  EXPECT_EQ(clusterErrors("quorum_loss: {recover_after: 0s}\n"),
            (Errors{"cluster.yaml:1:30: quorum_loss.recover_after: must be more than 0, got 0s"}));
  EXPECT_EQ(clusterErrors("quorum_loss: {recover_after: 30}\n"),
            (Errors{"cluster.yaml:1:30: quorum_loss.recover_after: expected a duration like 500ms, 2s, 5m, got 30"}));
  EXPECT_EQ(clusterErrors("quorum_loss: {recover_after: 1m, wait: true}\n"),
            (Errors{"cluster.yaml:1:34: quorum_loss.wait: unknown key; expected one of: recover_after"}));
  EXPECT_EQ(clusterErrors("quorum_loss: 3\n"),
            (Errors{"cluster.yaml:1:14: quorum_loss: expected a string or a map, got 3"}));
}

TEST(ClusterRolesErrorsTest, Rebalance) {
  EXPECT_EQ(clusterErrors("rebalance: yes\n"),
            (Errors{"cluster.yaml:1:12: rebalance: expected a boolean, got \"yes\""}));
}

}  // namespace
}  // namespace shoal::test
