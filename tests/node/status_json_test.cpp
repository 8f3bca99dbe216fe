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
