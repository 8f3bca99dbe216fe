#include "api/router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/api/fake_backend.h"

namespace shoal {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    backend_.setSnapshot({R"({"node":"a"})", R"([{"name":"web"}])", "shoal_up 1\n", R"([{"id":"n1"}])"});
    backend_.setLogs("web", "line 1\nline 2\n");
  }
  ApiResponse get(const std::string& target) { return routeRequest({"GET", target}, backend_); }
  static std::string error(const ApiResponse& r) {
    EXPECT_EQ(r.content_type, "application/json");
    auto json = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(json.is_object() && json.contains("error")) << r.body;
    return json.is_object() ? json.value("error", "") : "";
  }
  testing::FakeBackend backend_;
};

TEST_F(RouterTest, StatusAppsAndMetricsComeFromTheSnapshot) {
  auto status = get("/v1/status");
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.content_type, "application/json");
  EXPECT_EQ(status.body, R"({"node":"a"})");
  EXPECT_EQ(get("/v1/apps").body, R"([{"name":"web"}])");
  auto metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body, "shoal_up 1\n");
  EXPECT_EQ(get("/v1/nodes").body, R"([{"id":"n1"}])");
  EXPECT_EQ(routeRequest({"POST", "/v1/nodes"}, backend_).status, 405);
}

TEST_F(RouterTest, NoSnapshotYetIs503) {
  testing::FakeBackend empty;
  for (const char* path : {"/v1/status", "/v1/apps", "/v1/nodes", "/metrics"}) {
    auto r = routeRequest({"GET", path}, empty);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_NE(error(r).find("first pass"), std::string::npos);
  }
}

TEST_F(RouterTest, EventsDefaultsAndLimits) {
  EXPECT_EQ(get("/v1/events").status, 200);
  EXPECT_EQ(backend_.lastSince(), 0);
  EXPECT_EQ(backend_.lastLimit(), 100);
  auto r = get("/v1/events?since=41&limit=7");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"([{"seq":42}])");
  EXPECT_EQ(backend_.lastSince(), 41);
  EXPECT_EQ(backend_.lastLimit(), 7);
  get("/v1/events?limit=5000");
  EXPECT_EQ(backend_.lastLimit(), 1000);
  get("/v1/events?limit=1000&since=9000000000");
  EXPECT_EQ(backend_.lastSince(), 9000000000);
}

TEST_F(RouterTest, BadEventParametersAre400) {
  for (const char* target :
       {"/v1/events?since=abc", "/v1/events?limit=1.5", "/v1/events?limit=", "/v1/events?since=-1",
        "/v1/events?limit=0", "/v1/events?limit=9x", "/v1/events?since=99999999999999999999",
        "/v1/events?since=1&since=2", "/v1/events?sinse=1", "/v1/events?since=%zz"}) {
    auto r = get(target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_FALSE(error(r).empty()) << target;
  }
  EXPECT_EQ(error(get("/v1/events?since=abc")),
            "query parameter 'since' must be an integer, got 'abc'");
  EXPECT_EQ(error(get("/v1/events?sinse=1")),
            "unknown query parameter 'sinse' (known: since, limit)");
}

TEST_F(RouterTest, LogsOfAnApp) {
  auto r = get("/v1/apps/web/logs");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "line 1\nline 2\n");
  EXPECT_EQ(backend_.lastTail(), 100);
  get("/v1/apps/web/logs?tail=0");
  EXPECT_EQ(backend_.lastTail(), 0);
  get("/v1/apps/web/logs?tail=20000");
  EXPECT_EQ(backend_.lastTail(), 10000);
  EXPECT_EQ(get("/v1/apps/web/logs?tail=-3").status, 400);
  EXPECT_EQ(get("/v1/apps/web/logs?tail=x").status, 400);
}

TEST_F(RouterTest, LogsOfAnUnknownAppAre404Json) {
  auto r = get("/v1/apps/nope/logs");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error(r), "no app named 'nope'");
  EXPECT_EQ(get("/v1/apps/%77eb/logs").status, 200);  // %77 is 'w'
  EXPECT_EQ(get("/v1/apps//logs").status, 404);
  EXPECT_EQ(get("/v1/apps/a/b/logs").status, 404);
  EXPECT_EQ(get("/v1/apps/a%2Fb/logs").status, 404);
}

TEST_F(RouterTest, UnknownPathsAre404Json) {
  for (const char* target : {"/", "/v1", "/v1/status/", "/v2/status", "/v1/apps/web", "/metricsx",
                             "/v1/apps/web/logs/x"}) {
    auto r = get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_NE(error(r).find("no such path"), std::string::npos);
  }
}

TEST_F(RouterTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "PATCH"}) {
    auto r = routeRequest({method, "/v1/status"}, backend_);
    EXPECT_EQ(r.status, 405) << method;
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET"}));
    EXPECT_FALSE(error(r).empty());
  }
  EXPECT_EQ(routeRequest({"POST", "/nowhere"}, backend_).status, 404);
}

TEST_F(RouterTest, PathsWithoutParametersRefuseThem) {
  auto r = get("/v1/status?verbose=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error(r), "unknown query parameter 'verbose' (this path takes none)");
}

TEST_F(RouterTest, BackendErrorsMapToStatuses) {
  backend_.failEvents(Error{ErrorCode::kUnavailable, "state store is locked", true});
  auto r = get("/v1/events");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error(r), "state store is locked");
  backend_.failEvents(Error{ErrorCode::kIo, "disk full", false});
  EXPECT_EQ(get("/v1/events").status, 500);
}

TEST(QueryTest, ParsesAndDecodes) {
  auto q = parseQuery("a=1&b=x%20y+z&&c");
  EXPECT_EQ(q.error, "");
  EXPECT_EQ(q.params, (std::map<std::string, std::string>{{"a", "1"}, {"b", "x y z"}, {"c", ""}}));
  EXPECT_TRUE(parseQuery("").params.empty());
  EXPECT_NE(parseQuery("a=%4").error, "");
  EXPECT_NE(parseQuery("a=1&a=2").error, "");
  EXPECT_EQ(percentDecode("%2Fa+b", false), "/a+b");
  EXPECT_EQ(percentDecode("%2fa+b", true), "/a b");
  EXPECT_EQ(percentDecode("%-1", false), std::nullopt);
}

TEST(ErrorResponseTest, IsJsonEvenForOddMessages) {
  auto r = errorResponse(400, "bad \"quote\" \xff");
  EXPECT_EQ(r.status, 400);
  auto json = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(json.is_object()) << r.body;
  EXPECT_NE(json["error"].get<std::string>().find("bad \"quote\""), std::string::npos);
}

}  // namespace
}  // namespace shoal
