// Valid files: defaults applied, short forms and conversions turned into the structs of spec.h.
#include <gtest/gtest.h>

#include "tests/schemas/spec_test_util.h"

namespace shoal::test {
namespace {

using Strings = std::vector<std::string>;

TEST(GoodInputTest, ClusterDefaults) {
  Spec s = Commit().with("cluster.yaml", "{}\n").spec();
  EXPECT_EQ(s.cluster.name, "shoal");
  EXPECT_EQ(s.cluster.min_nodes, 1);
  EXPECT_EQ(s.cluster.below_min, BelowMin::kPause);
  EXPECT_TRUE(s.apps.empty());
}

TEST(GoodInputTest, ClusterValues) {
  Spec s = Commit().with("cluster.yaml", "name: prod-1\nmin_nodes: 3\nbelow_min: stop\n").spec();
  EXPECT_EQ(s.cluster.name, "prod-1");
  EXPECT_EQ(s.cluster.min_nodes, 3);
  EXPECT_EQ(s.cluster.below_min, BelowMin::kStop);
  EXPECT_STREQ(belowMinName(s.cluster.below_min), "stop");
}

TEST(GoodInputTest, AppDefaults) {
  AppSpec a = loadApp("image: busybox\n");
  EXPECT_EQ(a.name, "web");
  EXPECT_EQ(a.file, "apps/web.yaml");
  EXPECT_EQ(a.image, "busybox");
  EXPECT_FALSE(a.build);
  EXPECT_EQ(a.replicas, 1);
  EXPECT_EQ(a.placement, Placement::kSpread);
  EXPECT_TRUE(a.role.empty());
  EXPECT_TRUE(a.constraints.empty());
  EXPECT_TRUE(a.command.empty());
  EXPECT_EQ(a.restart, "unless-stopped");
  EXPECT_FALSE(a.health);
  EXPECT_EQ(a.update, (UpdateSpec{1, 0}));
  EXPECT_EQ(a.resources, ResourceSpec{});
}

TEST(GoodInputTest, Placement) {
  EXPECT_EQ(loadApp("image: w\nplacement: origin\n").placement, Placement::kOrigin);
  EXPECT_EQ(loadApp("image: w\nplacement: spread\nreplicas: 4\n").placement, Placement::kSpread);
  EXPECT_STREQ(placementName(Placement::kSpread), "spread");
  EXPECT_EQ(placementFromName("spread"), Placement::kSpread);
  AppSpec a = loadApp("image: w\nplacement: every-node\nreplicas: 2\n");
  EXPECT_EQ(a.placement, Placement::kEveryNode);
  EXPECT_EQ(a.replicas, 2);  // per node
  EXPECT_STREQ(placementName(a.placement), "every-node");
  EXPECT_EQ(placementFromName("origin"), Placement::kOrigin);
  EXPECT_EQ(placementFromName("every_node"), std::nullopt);
}

TEST(GoodInputTest, RoleAndConstraints) {
  AppSpec a = loadApp("image: w\nrole: hub\nreplicas: 2\nconstraints:\n  disk: ssd\n  zone: \"!edge\"\n"
                      "  example.com/rack: r-1\n");
  EXPECT_EQ(a.role, "hub");
  EXPECT_EQ(a.replicas, 2);                    // per holder
  EXPECT_EQ(a.placement, Placement::kSpread);  // not used with a role
  EXPECT_EQ(a.constraints, (std::map<std::string, std::string>{
                               {"disk", "ssd"}, {"zone", "!edge"}, {"example.com/rack", "r-1"}}));
}

TEST(GoodInputTest, ShortPortSyntax) {
  AppSpec a = loadApp("image: w\nports: [\"8080-8089:80\", \"9000:90/udp\", \"127.0.0.1:7000:70\", \"81\"]\n");
  ASSERT_EQ(a.ports.size(), 4u);
  EXPECT_EQ(a.ports[0], (PortSpec{80, 8080, 8089, "tcp", "0.0.0.0"}));
  EXPECT_EQ(a.ports[1], (PortSpec{90, 9000, 9000, "udp", "0.0.0.0"}));
  EXPECT_EQ(a.ports[2], (PortSpec{70, 7000, 7000, "tcp", "127.0.0.1"}));
  EXPECT_EQ(a.ports[3], (PortSpec{81, 0, 0, "tcp", "0.0.0.0"}));
}

TEST(GoodInputTest, FixedHostPortDefaultsToStopFirstUpdates) {
  AppSpec a = loadApp("image: w\nports:\n  - container: 80\n    host: 8080\n    protocol: udp\n    host_ip: 10.1.2.3\n");
  EXPECT_EQ(a.ports.at(0), (PortSpec{80, 8080, 8080, "udp", "10.1.2.3"}));
  EXPECT_EQ(a.update, (UpdateSpec{0, 1}));
}

TEST(GoodInputTest, RangeWideEnoughForReplicasAndSurge) {
  AppSpec a = loadApp("image: w\nreplicas: 3\nports:\n  - {container: 80, host: 8080-8083}\n");
  EXPECT_EQ(a.ports.at(0).host_from, 8080);
  EXPECT_EQ(a.ports.at(0).host_to, 8083);
  EXPECT_EQ(a.update, (UpdateSpec{1, 0}));
}

TEST(GoodInputTest, HealthHttpBecomesWgetProbe) {
  AppSpec a = loadApp("image: w\nhealth:\n  http: {port: 8080, path: /healthz}\n  timeout: 2500ms\n  interval: 5s\n");
  ASSERT_TRUE(a.health);
  EXPECT_EQ(a.health->cmd,
            (Strings{"wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"}));
  EXPECT_EQ(a.health->description, "GET http://127.0.0.1:8080/healthz");
  EXPECT_EQ(a.health->interval, Duration(5000));
  EXPECT_EQ(a.health->timeout, Duration(2500));
  EXPECT_EQ(a.health->retries, 3);
  EXPECT_EQ(a.health->start_period, Duration(0));
  EXPECT_EQ(a.health->deadline, Duration(60000));
}

TEST(GoodInputTest, HealthHttpDefaultPath) {
  AppSpec a = loadApp("image: w\nhealth:\n  http:\n    port: 80\n");
  EXPECT_EQ(a.health->cmd, (Strings{"wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"}));
  EXPECT_EQ(a.health->description, "GET http://127.0.0.1:80/");
}

TEST(GoodInputTest, HealthCmdForms) {
  AppSpec s = loadApp("image: w\nhealth:\n  cmd: test -f /ready\n");
  EXPECT_EQ(s.health->cmd, (Strings{"sh", "-c", "test -f /ready"}));
  EXPECT_EQ(s.health->description, "test -f /ready");
  AppSpec l = loadApp("image: w\nhealth:\n  cmd: [/bin/check, --fast]\n  retries: 5\n  deadline: 2m\n");
  EXPECT_EQ(l.health->cmd, (Strings{"/bin/check", "--fast"}));
  EXPECT_EQ(l.health->description, "/bin/check --fast");
  EXPECT_EQ(l.health->retries, 5);
  EXPECT_EQ(l.health->deadline, Duration(120000));
}

TEST(GoodInputTest, CommandStringRunsThroughShell) {
  EXPECT_EQ(loadApp("image: w\ncommand: httpd -f -p 80\n").command, (Strings{"sh", "-c", "httpd -f -p 80"}));
  EXPECT_EQ(loadApp("image: w\ncommand: [httpd, -f]\n").command, (Strings{"httpd", "-f"}));
}

TEST(GoodInputTest, EnvScalarsBecomeText) {
  AppSpec a = loadApp("image: w\nenv:\n  WORKERS: 3\n  RATIO: 1.50\n  DEBUG: true\n  EMPTY:\n  NAME: \"x y\"\n");
  EXPECT_EQ(a.env, (std::map<std::string, std::string>{
                       {"WORKERS", "3"}, {"RATIO", "1.50"}, {"DEBUG", "true"}, {"EMPTY", ""}, {"NAME", "x y"}}));
}

TEST(GoodInputTest, BuildShorthandAndFullForm) {
  AppSpec s = Commit().dir("web").file("web/Dockerfile").with("apps/web.yaml", "build: ./web/\n").spec().apps.at(0);
  ASSERT_TRUE(s.build);
  EXPECT_EQ(*s.build, (BuildSpec{"web", "Dockerfile", {}}));
  EXPECT_TRUE(s.image.empty());
  AppSpec f = Commit()
                  .dir("src/web")
                  .file("src/web/docker/Dockerfile.prod")
                  .with("apps/web.yaml", "build:\n  context: src/web\n  dockerfile: docker/Dockerfile.prod\n"
                                         "  args: {VERSION: \"1.2\"}\n")
                  .spec()
                  .apps.at(0);
  EXPECT_EQ(*f.build, (BuildSpec{"src/web", "docker/Dockerfile.prod", {{"VERSION", "1.2"}}}));
}

TEST(GoodInputTest, BuildFromRepoRoot) {
  AppSpec a = Commit().file("Dockerfile").with("apps/web.yaml", "build: .\n").spec().apps.at(0);
  EXPECT_EQ(a.build->context, ".");
}

TEST(GoodInputTest, VolumesResourcesLabelsDependsOn) {
  Spec s = Commit()
               .with("apps/db.yaml", "image: postgres\n")
               .with("apps/web.yaml", "image: w\nvolumes: [\"data:/var/lib/data:ro\", {name: cache, target: /cache}]\n"
                                      "resources: {memory: 64M, cpus: 0.5}\nlabels: {team: web}\n"
                                      "depends_on: [db]\nrestart: on-failure\n")
               .spec();
  ASSERT_EQ(s.apps.size(), 2u);
  EXPECT_EQ(s.apps[0].name, "db");  // sorted by name
  const AppSpec& a = s.apps[1];
  EXPECT_EQ(a.volumes, (std::vector<VolumeSpec>{{"data", "/var/lib/data", true}, {"cache", "/cache", false}}));
  EXPECT_EQ(a.resources.memory_bytes, 64LL << 20);
  EXPECT_DOUBLE_EQ(a.resources.cpus, 0.5);
  EXPECT_EQ(a.labels, (std::map<std::string, std::string>{{"team", "web"}}));
  EXPECT_EQ(a.depends_on, (Strings{"db"}));
  EXPECT_EQ(a.restart, "on-failure");
}

TEST(GoodInputTest, MemoryAsBytes) {
  EXPECT_EQ(loadApp("image: w\nresources: {memory: 1048576}\n").resources.memory_bytes, 1048576);
}

TEST(GoodInputTest, NoIsAStringNotABoolean) {
  EXPECT_EQ(loadApp("image: w\nrestart: no\n").restart, "no");
}

TEST(GoodInputTest, YmlExtensionAndReplicasZero) {
  Spec s = Commit().with("apps/worker.yml", "image: w\nreplicas: 0\n").spec();
  EXPECT_EQ(s.apps.at(0).name, "worker");
  EXPECT_EQ(s.apps.at(0).replicas, 0);
}

}  // namespace
}  // namespace shoal::test
