// The Docker JSON helpers on answers copied from a real daemon (docker.io 20.10.24, API 1.41).
#include "runtime/docker_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace shoal::docker {
namespace {

const char* kList = R"json([{"Id":"d063580219967940a0e691fee5698165a133214fb4f0372f7e7847407b43c62d","Names":["/shoalrt-sample"],"Image":"shoalrt-sample:1","ImageID":"sha256:fc93235b6cdadb2af46e73853a9ef5d2f55fcd8fc6b92b10f619ec173bb2e402","Command":"/bin/busybox sh -c 'echo out1'","Created":1795796950,"Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":18080,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":18080,"Type":"tcp"},{"PrivatePort":81,"Type":"udp"}],"Labels":{"shoalrt":"sample"},"State":"running","Status":"Up 3 seconds (healthy)","HostConfig":{"NetworkMode":"default"},"NetworkSettings":{"Networks":{}},"Mounts":[]},
{"Id":"aa","Names":["/other"],"Image":"x:1","Created":1795796000,"Ports":[],"Labels":null,"State":"exited","Status":"Exited (143) 2 minutes ago"}])json";

const char* kInspect = R"json({"Id":"d063580219967940a0e691fee5698165a133214fb4f0372f7e7847407b43c62d","Created":"2026-11-27T16:29:10.924574849Z","Name":"/shoalrt-sample",
"State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":9606,"ExitCode":0,"Error":"","StartedAt":"2026-11-27T16:29:11.334133486Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"healthy","FailingStreak":0,"Log":[]}},
"Config":{"Image":"shoalrt-sample:1","Labels":{"shoalrt":"sample"}},
"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"18080"},{"HostIp":"::","HostPort":"18080"}],"81/udp":null}}})json";

const char* kCreatedNeverStarted = R"json({"Id":"bb","Created":"2026-11-27T16:29:10Z","Name":"/c","State":{"Status":"created","ExitCode":0,"StartedAt":"0001-01-01T00:00:00Z"},"Config":{"Image":"x:1","Labels":{}},"NetworkSettings":{"Ports":{}}})json";

TEST(DockerJsonTest, ListGivesStateHealthPortsAndCreated) {
  auto list = parseContainerList(kList);
  ASSERT_TRUE(list) << list.error().str();
  ASSERT_EQ(list->size(), 2u);
  const ContainerInfo& c = (*list)[0];
  EXPECT_EQ(c.name, "shoalrt-sample");
  EXPECT_EQ(c.image, "shoalrt-sample:1");
  EXPECT_EQ(c.labels, (Labels{{"shoalrt", "sample"}}));
  EXPECT_EQ(c.state, ContainerState::kRunning);
  EXPECT_EQ(c.health, Health::kHealthy);
  EXPECT_EQ(toUnixMs(c.created), 1795796950000);
  ASSERT_EQ(c.ports.size(), 2u);  // the unpublished 81/udp is left out
  EXPECT_EQ(c.ports[0].container_port, 80);
  EXPECT_EQ(c.ports[0].host_port, 18080);
  EXPECT_EQ(c.ports[0].host_ip, "0.0.0.0");
  EXPECT_EQ(c.ports[0].protocol, "tcp");
  EXPECT_EQ((*list)[1].state, ContainerState::kExited);
  EXPECT_EQ((*list)[1].health, Health::kNone);
  EXPECT_TRUE((*list)[1].labels.empty());
}

TEST(DockerJsonTest, HealthFromStatusText) {
  EXPECT_EQ(healthFromStatusText("Up 3 seconds (healthy)"), Health::kHealthy);
  EXPECT_EQ(healthFromStatusText("Up 2 minutes (unhealthy)"), Health::kUnhealthy);
  EXPECT_EQ(healthFromStatusText("Up 1 second (health: starting)"), Health::kStarting);
  EXPECT_EQ(healthFromStatusText("Up 5 hours (Paused)"), Health::kNone);
  EXPECT_EQ(healthFromStatusText("Exited (0) 3 seconds ago"), Health::kNone);
}

TEST(DockerJsonTest, InspectGivesStateHealthTimesPortsLabels) {
  auto c = parseContainerInspect(kInspect);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->name, "shoalrt-sample");
  EXPECT_EQ(c->image, "shoalrt-sample:1");
  EXPECT_EQ(c->state, ContainerState::kRunning);
  EXPECT_EQ(c->health, Health::kHealthy);
  EXPECT_EQ(formatTime(c->started), "2026-11-27T16:29:11.334Z");
  EXPECT_EQ(formatTime(c->created), "2026-11-27T16:29:10.924Z");
  EXPECT_EQ(c->labels.at("shoalrt"), "sample");
  ASSERT_EQ(c->ports.size(), 2u);
  EXPECT_EQ(c->ports[1].host_ip, "::");
  EXPECT_EQ(c->ports[1].host_port, 18080);
}

TEST(DockerJsonTest, NeverStartedIsTheZeroTime) {
  auto c = parseContainerInspect(kCreatedNeverStarted);
  ASSERT_TRUE(c) << c.error().str();
  EXPECT_EQ(c->state, ContainerState::kCreated);
  EXPECT_EQ(c->health, Health::kNone);
  EXPECT_EQ(c->started, TimePoint{});
  EXPECT_TRUE(c->ports.empty());
}

TEST(DockerJsonTest, MalformedAnswersAreErrorsNotCrashes) {
  EXPECT_FALSE(parseContainerInspect("{"));
  EXPECT_FALSE(parseContainerInspect("{}"));
  EXPECT_FALSE(parseContainerList("{\"message\":\"x\"}x"));
  EXPECT_FALSE(parseCreatedId("{}"));
  EXPECT_EQ(*parseCreatedId(R"({"Id":"abc","Warnings":[]})"), "abc");
}

TEST(DockerJsonTest, ParsesTimes) {
  EXPECT_EQ(formatTime(*parseTime("2026-11-27T16:29:11.334133486Z")), "2026-11-27T16:29:11.334Z");
  EXPECT_EQ(formatTime(*parseTime("2026-11-27T16:29:11Z")), "2026-11-27T16:29:11.000Z");
  EXPECT_EQ(formatTime(*parseTime("2026-11-27T18:29:11.5+02:00")), "2026-11-27T16:29:11.500Z");
  EXPECT_EQ(*parseTime("0001-01-01T00:00:00Z"), TimePoint{});
  EXPECT_FALSE(parseTime(""));
  EXPECT_FALSE(parseTime("yesterday"));
  EXPECT_FALSE(parseTime("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(parseTime("2026-11-27T16:29:11"));
}

TEST(DockerJsonTest, CreateBodyCarriesEverything) {
  ContainerConfig cfg;
  cfg.name = "web-1";
  cfg.image = "shoal/web:abc";
  cfg.cmd = {"httpd", "-f"};
  cfg.env = {{"A", "1"}};
  cfg.labels = {{"shoal.app", "web"}};
  cfg.ports = {{80, "tcp", "", "8080-8089"}, {53, "udp", "127.0.0.1", "5353"}, {9000, "tcp", "", ""}};
  cfg.volumes = {{"web-data", "/data", true}};
  cfg.memory_bytes = 64 << 20;
  cfg.nano_cpus = 500000000;
  cfg.health = Healthcheck{{"wget", "-q", "localhost"}, Duration(2000), Duration(1000), Duration(500), 4};
  auto j = nlohmann::json::parse(createBody(cfg));
  EXPECT_EQ(j["Image"], "shoal/web:abc");
  EXPECT_EQ(j["Cmd"], nlohmann::json({"httpd", "-f"}));
  EXPECT_EQ(j["Env"], nlohmann::json({"A=1"}));
  EXPECT_EQ(j["Labels"]["shoal.app"], "web");
  EXPECT_TRUE(j["ExposedPorts"].contains("9000/tcp"));
  const auto& host = j["HostConfig"];
  EXPECT_EQ(host["PortBindings"]["80/tcp"][0]["HostPort"], "8080-8089");
  EXPECT_EQ(host["PortBindings"]["53/udp"][0]["HostIp"], "127.0.0.1");
  EXPECT_FALSE(host["PortBindings"].contains("9000/tcp"));
  EXPECT_EQ(host["Mounts"][0]["Type"], "volume");
  EXPECT_EQ(host["Mounts"][0]["Source"], "web-data");
  EXPECT_EQ(host["Mounts"][0]["ReadOnly"], true);
  EXPECT_EQ(host["Memory"], 64 << 20);
  EXPECT_EQ(host["NanoCpus"], 500000000);
  EXPECT_EQ(host["RestartPolicy"]["Name"], "unless-stopped");
  EXPECT_EQ(host["Init"], true);
  EXPECT_EQ(j["Healthcheck"]["Test"], nlohmann::json({"CMD", "wget", "-q", "localhost"}));
  EXPECT_EQ(j["Healthcheck"]["Interval"], 2000000000);
  EXPECT_EQ(j["Healthcheck"]["Timeout"], 1000000000);
  EXPECT_EQ(j["Healthcheck"]["StartPeriod"], 500000000);
  EXPECT_EQ(j["Healthcheck"]["Retries"], 4);
}

TEST(DockerJsonTest, CreateBodyLeavesDefaultsToTheImage) {
  ContainerConfig cfg;
  cfg.image = "x:1";
  cfg.restart_policy = "";
  auto j = nlohmann::json::parse(createBody(cfg));
  EXPECT_FALSE(j.contains("Cmd"));
  EXPECT_FALSE(j.contains("Healthcheck"));
  EXPECT_FALSE(j["HostConfig"].contains("Memory"));
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["Name"], "no");
}

TEST(DockerJsonTest, ParsesEvents) {
  auto ev = parseEvent(
      R"({"status":"die","id":"d06358","from":"shoalrt-sample:1","Type":"container","Action":"die","Actor":{"ID":"d06358","Attributes":{"exitCode":"143","image":"shoalrt-sample:1","name":"shoalrt-sample","shoalrt":"sample"}},"scope":"local","time":1795796959,"timeNano":1795796959151293600})");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->id, "d06358");
  EXPECT_EQ(ev->action, "die");
  EXPECT_EQ(ev->labels.at("shoalrt"), "sample");
  EXPECT_EQ(ev->labels.at("exitCode"), "143");
  EXPECT_FALSE(parseEvent(R"({"Type":"network","Action":"connect","Actor":{"ID":"n"}})"));
  EXPECT_FALSE(parseEvent("not json"));
}

TEST(DockerJsonTest, ParsesBuildLines) {
  EXPECT_EQ(parseBuildLine(R"({"stream":"Step 1/4 : FROM scratch"})").stream, "Step 1/4 : FROM scratch");
  EXPECT_EQ(parseBuildLine(R"({"aux":{"ID":"sha256:fc93"}})").image_id, "sha256:fc93");
  auto err = parseBuildLine(
      R"({"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"})");
  EXPECT_EQ(err.error, "The command '/bin/sh -c false' returned a non-zero code: 1");
  EXPECT_EQ(parseBuildLine(R"({"errorDetail":{"message":"only detail"}})").error, "only detail");
}

TEST(DockerJsonTest, ErrorsVersionsAndFilters) {
  EXPECT_EQ(errorMessage(R"({"message":"No such container: x"})"), "No such container: x");
  EXPECT_EQ(errorMessage("page not found\n"), "page not found");
  EXPECT_EQ(*parseApiVersion(R"({"ApiVersion":"1.41","MinAPIVersion":"1.12"})"), "1.41");
  EXPECT_FALSE(parseApiVersion("{}"));
  EXPECT_LT(compareApiVersions("1.9", "1.25"), 0);
  EXPECT_GT(compareApiVersions("1.43", "1.41"), 0);
  EXPECT_EQ(compareApiVersions("1.41", "1.41"), 0);
  EXPECT_EQ(labelFilters({{"a", "1"}, {"b", "2"}}, false), R"({"label":["a=1","b=2"]})");
  EXPECT_EQ(labelFilters({{"a", "1"}}, true), R"({"label":["a=1"],"type":["container"]})");
}

}  // namespace
}  // namespace shoal::docker
