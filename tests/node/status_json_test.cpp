#include "node/status_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace shoal {
namespace {

Report sample() {
  Report r;
  r.node_id = "0a1b2c3d4e5f6789";
  r.node_name = "n1";
  r.applied_commit = "c1";
  r.refused_commit = "c2";
  r.refused_errors = {"apps/web.yaml:4:11: replicas: expected an integer, got \"three\""};
  r.cluster = "hello";
  r.activation = "run";
  AppReport web;
  web.name = "web";
  web.phase = "healthy";
  web.desired = 3;
  web.ready = 3;
  web.failed_commit = "c0";
  web.failed_reason = "health check `false` failed";
  web.containers.push_back({"abc", "shoal-web-1", "v", "running", "healthy", {{80, "tcp", "0.0.0.0", 8080}}});
  r.apps.push_back(web);
  r.builds_started = 2;
  return r;
}

TEST(StatusJsonTest, StatusShowsRefusalAppsAndRollback) {
  auto j = nlohmann::json::parse(statusJson(sample()));
  EXPECT_EQ(j["spec"]["refused"]["commit"], "c2");
  EXPECT_EQ(j["spec"]["refused"]["errors"][0], "apps/web.yaml:4:11: replicas: expected an integer, got \"three\"");
  EXPECT_EQ(j["apps"][0]["replicas"]["ready"], 3);
  EXPECT_EQ(j["apps"][0]["rollback"]["failed_commit"], "c0");
  EXPECT_EQ(j["apps"][0]["containers"][0]["ports"][0]["host"], 8080);
  EXPECT_FALSE(j["spec"].contains("error"));
}

TEST(StatusJsonTest, ClusterShowsTheLeadersDecisions) {
  MembershipStatus m;
  m.phase = Phase::kMember;
  m.hub = true;
  m.hubs = {"https://10.0.0.1:2379"};
  m.leader = "a1";
  HubRecord voter, learner;
  voter.node_id = "a1";
  voter.voter = true;
  learner.node_id = "b2";
  m.hub_records["a1"] = voter;
  m.hub_records["b2"] = learner;
  m.roles["ingress"] = {"a1", "c3"};
  m.placements["web"].nodes = {{"a1", 1}, {"b2", 2}};
  m.placements["db"].missing = 2;
  m.placements["db"].reason = "not enough memory: needs 256 MiB, the most free on an eligible node is 100 MiB";
  auto j = nlohmann::json::parse(statusJson(sample(), &m));
  const auto& c = j["cluster"];
  EXPECT_EQ(c["leader"], "a1");
  ASSERT_EQ(c["hubs"].size(), 2u);
  EXPECT_EQ(c["hubs"][0], (nlohmann::json{{"node", "a1"}, {"state", "voter"}}));
  EXPECT_EQ(c["hubs"][1], (nlohmann::json{{"node", "b2"}, {"state", "learner"}}));
  EXPECT_EQ(c["store_endpoints"][0], "https://10.0.0.1:2379");
  EXPECT_EQ(c["roles"]["ingress"], (nlohmann::json{"a1", "c3"}));
  EXPECT_EQ(c["placement"]["web"]["nodes"]["b2"], 2);
  EXPECT_EQ(c["placement"]["web"]["missing"], 0);
  // Replicas that fit nowhere are visible with the reason.
  EXPECT_EQ(c["placement"]["db"]["missing"], 2);
  EXPECT_EQ(c["placement"]["db"]["reason"],
            "not enough memory: needs 256 MiB, the most free on an eligible node is 100 MiB");
  EXPECT_TRUE(c["placement"]["db"]["nodes"].empty());
}

TEST(StatusJsonTest, ClusterWithoutALeaderHasEmptyDecisions) {
  MembershipStatus m;
  auto j = nlohmann::json::parse(statusJson(sample(), &m));
  EXPECT_EQ(j["cluster"]["leader"], "");
  EXPECT_TRUE(j["cluster"]["hubs"].is_array() && j["cluster"]["hubs"].empty());
  EXPECT_TRUE(j["cluster"]["roles"].is_object() && j["cluster"]["roles"].empty());
  EXPECT_TRUE(j["cluster"]["placement"].is_object() && j["cluster"]["placement"].empty());
}

TEST(StatusJsonTest, MetricsAreInPrometheusTextFormat) {
  std::string m = metricsText(sample());
  EXPECT_NE(m.find("# TYPE shoal_builds_started_total counter\nshoal_builds_started_total 2\n"), std::string::npos);
  EXPECT_NE(m.find("shoal_app_replicas{app=\"web\",kind=\"ready\"} 3\n"), std::string::npos);
}

TEST(StatusJsonTest, EventsAreAJsonArray) {
  Event e{7, fromUnixMs(1767225600000), "error", "commit.refused", "", "c2", "refused"};
  auto j = nlohmann::json::parse(eventsJson({e}));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["seq"], 7);
  EXPECT_EQ(j[0]["at"], "2026-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace shoal
