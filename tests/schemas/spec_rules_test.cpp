// cluster.yaml and the rules across files of one commit.
#include <gtest/gtest.h>

#include "tests/schemas/spec_test_util.h"

namespace shoal::test {
namespace {

TEST(SpecRulesTest, AppRoleMustBeDeclared) {
  EXPECT_EQ(Commit()
                .with("cluster.yaml", "roles:\n  ingress: {count: every-node}\n")
                .with("apps/web.yaml", "image: w\nrole: edge\n")
                .errors(),
            (Errors{"apps/web.yaml:2:7: role: unknown role \"edge\" (cluster.yaml roles: hub, ingress)"}));
}

TEST(SpecRulesTest, AppRoleDeclaredOrHub) {
  Spec s = Commit()
               .with("cluster.yaml", "roles:\n  ingress: {count: 2}\n")
               .with("apps/web.yaml", "image: w\nrole: ingress\n")
               .with("apps/probe.yaml", "image: p\nrole: hub\n")
               .spec();
  ASSERT_EQ(s.apps.size(), 2u);
  EXPECT_EQ(s.apps[0].role, "hub");  // probe: hub is always declared
  EXPECT_EQ(s.apps[1].role, "ingress");
}

// Without a readable cluster.yaml there are no roles to check against: its own error is enough.
TEST(SpecRulesTest, AppRoleNotCheckedWithoutClusterFile) {
  EXPECT_EQ(Commit().without("cluster.yaml").with("apps/web.yaml", "image: w\nrole: ingress\n").errors(),
            (Errors{"cluster.yaml: required file is missing"}));
  EXPECT_EQ(Commit().with("cluster.yaml", "[\n").with("apps/web.yaml", "image: w\nrole: ingress\n").errors(),
            (Errors{"cluster.yaml:2:1: YAML syntax error: end of sequence flow not found"}));
}

TEST(SpecRulesTest, MissingClusterFile) {
  EXPECT_EQ(Commit().without("cluster.yaml").errors(), (Errors{"cluster.yaml: required file is missing"}));
}

TEST(SpecRulesTest, ClusterBadEnum) {
  EXPECT_EQ(Commit().with("cluster.yaml", "below_min: halt\n").errors(),
            (Errors{"cluster.yaml:1:12: below_min: expected one of pause, stop, keep, got \"halt\""}));
}

TEST(SpecRulesTest, ClusterUnknownKeyAndBadName) {
  EXPECT_EQ(Commit().with("cluster.yaml", "name: My_Cluster\nhubs: 3\nmin_nodes: 0\n").errors(),
            (Errors{"cluster.yaml:1:7: name: must be 1-63 lowercase letters, digits or '-', starting with a letter or "
                    "digit, got \"My_Cluster\"",
                    "cluster.yaml:2:1: hubs: unknown key; expected one of: below_min, min_nodes, name, quorum_loss, "
                    "rebalance, roles, scoring",
                    "cluster.yaml:3:12: min_nodes: must be at least 1, got 0"}));
}

TEST(SpecRulesTest, ClusterNotAMap) {
  EXPECT_EQ(Commit().with("cluster.yaml", "shoal\n").errors(), (Errors{"cluster.yaml:1:1: expected a map, got \"shoal\""}));
}

TEST(SpecRulesTest, DuplicateAppName) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "image: a\n").with("apps/web.yml", "image: b\n").errors(),
            (Errors{"apps/web.yml: app \"web\" is also defined by apps/web.yaml"}));
}

TEST(SpecRulesTest, HostPortPublishedByTwoApps) {
  EXPECT_EQ(Commit()
                .with("apps/api.yaml", "image: a\nports: [\"8080:80\"]\n")
                .with("apps/web.yaml", "image: w\nports:\n  - container: 80\n    host: 8080\n")
                .errors(),
            (Errors{"apps/web.yaml:4:11: ports[0].host: host port 8080/tcp is also published by apps/api.yaml"}));
}

TEST(SpecRulesTest, OverlappingRanges) {
  EXPECT_EQ(Commit()
                .with("apps/api.yaml", "image: a\nreplicas: 3\nports: [\"8080-8089:80\"]\n")
                .with("apps/web.yaml", "image: w\nports: [\"8085:80\"]\n")
                .errors(),
            (Errors{"apps/web.yaml:2:9: ports[0]: host ports 8085/tcp overlap 8080-8089 published by apps/api.yaml"}));
}

TEST(SpecRulesTest, SamePortOtherProtocolOrAddressIsFine) {
  EXPECT_EQ(Commit()
                .with("apps/api.yaml", "image: a\nports: [\"53:53/udp\", \"10.0.0.1:80:80\"]\n")
                .with("apps/web.yaml", "image: w\nports: [\"53:53\", \"10.0.0.2:80:80\"]\n")
                .errors(),
            Errors{});
}

TEST(SpecRulesTest, SamePortTwiceInOneApp) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "image: w\nports: [\"8080:80\", \"8080:81\"]\n").errors(),
            (Errors{"apps/web.yaml:2:20: ports[1]: host port 8080/tcp is also published by ports[0]"}));
}

TEST(SpecRulesTest, DependsOnUnknownApp) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "image: w\ndepends_on: [api, db]\n").with("apps/api.yaml", "image: a\n").errors(),
            (Errors{"apps/web.yaml:2:19: depends_on[1]: unknown app \"db\" (apps: api, web)"}));
}

TEST(SpecRulesTest, DependencyCycle) {
  EXPECT_EQ(Commit()
                .with("apps/a.yaml", "image: a\ndepends_on: [b]\n")
                .with("apps/b.yaml", "image: b\ndepends_on: [c]\n")
                .with("apps/c.yaml", "image: c\ndepends_on:\n  - a\n")
                .errors(),
            (Errors{"apps/a.yaml:2:14: depends_on[0]: dependency cycle: a -> b -> c -> a"}));
}

TEST(SpecRulesTest, SelfDependency) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "image: w\ndepends_on: [web]\n").errors(),
            (Errors{"apps/web.yaml:2:14: depends_on[0]: dependency cycle: web -> web"}));
}

TEST(SpecRulesTest, MissingBuildContext) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "build:\n  context: web\n").errors(),
            (Errors{"apps/web.yaml:2:12: build.context: directory \"web\" is not in the repo at this commit"}));
}

TEST(SpecRulesTest, MissingDockerfile) {
  EXPECT_EQ(Commit().dir("web").with("apps/web.yaml", "build:\n  context: ./web/\n  dockerfile: prod.Dockerfile\n").errors(),
            (Errors{"apps/web.yaml:3:15: build.dockerfile: file \"web/prod.Dockerfile\" is not in the repo at this "
                    "commit"}));
}

TEST(SpecRulesTest, MissingDockerfileOfShorthand) {
  EXPECT_EQ(Commit().dir("web").with("apps/web.yaml", "build: web\n").errors(),
            (Errors{"apps/web.yaml:1:8: build: file \"web/Dockerfile\" is not in the repo at this commit"}));
}

TEST(SpecRulesTest, BuildContextOutsideTheRepo) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "build: ../elsewhere\n").errors(),
            (Errors{"apps/web.yaml:1:8: build: must be a directory inside the repo, got \"../elsewhere\""}));
}

TEST(SpecRulesTest, BuildMapWithoutContext) {
  EXPECT_EQ(Commit().with("apps/web.yaml", "build:\n  dockerfile: D\n").errors(),
            (Errors{"apps/web.yaml:2:3: build.context: required"}));
}

TEST(SpecRulesTest, OtherFilesAreIgnored) {
  EXPECT_EQ(Commit()
                .with("README.md", "# not yaml: [")
                .with("apps/sub/x.yaml", "nonsense: [")
                .with("apps/notes.txt", "x")
                .with("web/config.yaml", "x: [")
                .errors(),
            Errors{});
}

TEST(SpecRulesTest, EveryErrorOfTheCommitSorted) {
  Errors got = Commit()
                   .with("cluster.yaml", "min_nodes: two\nbelow_min: halt\n")
                   .with("apps/web.yaml", "image: w\nreplicas: -2\nports: [\"8080:80\"]\nhealth:\n  cmd: true\n  timeout: 1x\n")
                   .with("apps/api.yaml", "replicas: 1\nports: [\"8080:80\"]\nextra: 1\n")
                   .with("apps/db.yaml", "image: [\n")
                   .errors();
  EXPECT_EQ(got, (Errors{
                     "apps/api.yaml:1:1: image: required (or build)",
                     "apps/api.yaml:3:1: extra: unknown key; expected one of: build, command, constraints, depends_on, "
                     "env, health, image, labels, placement, ports, replicas, resources, restart, role, update, "
                     "volumes",
                     "apps/db.yaml:2:1: YAML syntax error: end of sequence flow not found",
                     "apps/web.yaml:2:11: replicas: must be at least 0, got -2",
                     "apps/web.yaml:3:9: ports[0]: host port 8080/tcp is also published by apps/api.yaml",
                     "apps/web.yaml:5:8: health.cmd: expected a string or a list, got true",
                     "apps/web.yaml:6:12: health.timeout: expected a duration like 500ms, 2s, 5m, got \"1x\"",
                     "cluster.yaml:1:12: min_nodes: expected an integer, got \"two\"",
                     "cluster.yaml:2:12: below_min: expected one of pause, stop, keep, got \"halt\"",
                 }));
  auto r = Commit().with("cluster.yaml", "min_nodes: two\n").with("apps/web.yaml", "replicas: x\n").specFiles();
  EXPECT_EQ(formatDiagnostics(loadSpec(r).error()),
            "apps/web.yaml:1:1: image: required (or build)\n"
            "apps/web.yaml:1:11: replicas: expected an integer, got \"x\"\n"
            "cluster.yaml:1:12: min_nodes: expected an integer, got \"two\"\n");
}

}  // namespace
}  // namespace shoal::test
