// One bad app file at a time: each test pins the exact message a person reads.
#include <gtest/gtest.h>

#include "tests/schemas/spec_test_util.h"

namespace shoal::test {
namespace {

TEST(AppErrorsTest, WrongTypeQuotesTheStringAsWritten) {
  EXPECT_EQ(appErrors("image: web\n\n\nreplicas: three\n"),
            (Errors{"apps/web.yaml:4:11: replicas: expected an integer, got \"three\""}));
}

TEST(AppErrorsTest, QuotedNumberIsAString) {
  EXPECT_EQ(appErrors("image: web\nreplicas: \"3\"\n"),
            (Errors{"apps/web.yaml:2:11: replicas: expected an integer, got \"3\""}));
}

TEST(AppErrorsTest, ListWhereAStringBelongs) {
  EXPECT_EQ(appErrors("image: [a, b]\n"), (Errors{"apps/web.yaml:1:8: image: expected a string, got a list"}));
}

TEST(AppErrorsTest, NumberWhereAMapBelongs) {
  EXPECT_EQ(appErrors("image: web\nhealth: 3\n"), (Errors{"apps/web.yaml:2:9: health: expected a map, got 3"}));
}

TEST(AppErrorsTest, MapWhereAListBelongs) {
  EXPECT_EQ(appErrors("image: web\nports:\n  a: 1\n"), (Errors{"apps/web.yaml:3:3: ports: expected a list, got a map"}));
}

TEST(AppErrorsTest, YesIsNotABoolean) {
  EXPECT_EQ(appErrors("image: web\nvolumes:\n  - name: data\n    target: /data\n    read_only: yes\n"),
            (Errors{"apps/web.yaml:5:16: volumes[0].read_only: expected a boolean, got \"yes\""}));
}

TEST(AppErrorsTest, EmptyValueIsNothingAtItsKey) {
  EXPECT_EQ(appErrors("image: web\nreplicas:\n"), (Errors{"apps/web.yaml:2:1: replicas: expected an integer, got nothing"}));
}

TEST(AppErrorsTest, UnknownKeyAtTopLevel) {
  EXPECT_EQ(appErrors("image: web\nreplica: 3\n"),
            (Errors{"apps/web.yaml:2:1: replica: unknown key; expected one of: build, command, constraints, "
                   "depends_on, env, health, image, labels, placement, ports, replicas, resources, restart, role, "
                   "update, volumes"}));
}

TEST(AppErrorsTest, UnknownKeyNested) {
  EXPECT_EQ(appErrors("image: web\nhealth:\n  cmd: true\n  intervall: 2s\n"),
            (Errors{"apps/web.yaml:3:8: health.cmd: expected a string or a list, got true",
                   "apps/web.yaml:4:3: health.intervall: unknown key; expected one of: cmd, deadline, http, interval, "
                   "retries, start_period, timeout"}));
}

TEST(AppErrorsTest, YamlSyntaxError) {
  EXPECT_EQ(appErrors("image: web\nports: [80\nreplicas: 2\n"),
            (Errors{"apps/web.yaml:3:9: YAML syntax error: end of sequence flow not found"}));
}

TEST(AppErrorsTest, SecondDocument) {
  EXPECT_EQ(appErrors("image: web\n---\nreplicas: 2\n"),
            (Errors{"apps/web.yaml:3:1: YAML syntax error: a file holds one document; a second starts here"}));
}

TEST(AppErrorsTest, DuplicateKey) {
  EXPECT_EQ(appErrors("image: web\nreplicas: 1\nreplicas: 2\n"),
            (Errors{"apps/web.yaml:3:1: replicas: duplicate key (first at line 2)"}));
}

TEST(AppErrorsTest, DuplicateKeyNested) {
  EXPECT_EQ(appErrors("image: web\nenv:\n  A: 1\n  B: 2\n  A: 3\n"),
            (Errors{"apps/web.yaml:5:3: env.A: duplicate key (first at line 3)"}));
}

TEST(AppErrorsTest, EmptyFile) {
  EXPECT_EQ(appErrors("# nothing yet\n"), (Errors{"apps/web.yaml:1:1: expected a map, got an empty file"}));
}

TEST(AppErrorsTest, TopLevelList) {
  EXPECT_EQ(appErrors("- image: web\n"), (Errors{"apps/web.yaml:1:1: expected a map, got a list"}));
}

TEST(AppErrorsTest, NeitherImageNorBuild) {
  EXPECT_EQ(appErrors("replicas: 2\n"), (Errors{"apps/web.yaml:1:1: image: required (or build)"}));
}

TEST(AppErrorsTest, BothImageAndBuild) {
  EXPECT_EQ(Commit().dir("web").file("web/Dockerfile").with("apps/web.yaml", "image: web\nbuild: web\n").errors(),
            (Errors{"apps/web.yaml:2:1: build: give either image or build, not both"}));
}

TEST(AppErrorsTest, BadDuration) {
  EXPECT_EQ(appErrors("image: web\nhealth:\n  cmd: true\n  interval: 2 seconds\n"),
            (Errors{"apps/web.yaml:3:8: health.cmd: expected a string or a list, got true",
                   "apps/web.yaml:4:13: health.interval: expected a duration like 500ms, 2s, 5m, got \"2 seconds\""}));
}

TEST(AppErrorsTest, BareNumberIsNotADuration) {
  EXPECT_EQ(appErrors("image: web\nhealth:\n  cmd: \"true\"\n  timeout: 5\n"),
            (Errors{"apps/web.yaml:4:12: health.timeout: expected a duration like 500ms, 2s, 5m, got 5"}));
}

TEST(AppErrorsTest, BadEnum) {
  EXPECT_EQ(appErrors("image: web\nrestart: sometimes\n"),
            (Errors{"apps/web.yaml:2:10: restart: expected one of no, on-failure, always, unless-stopped, got "
                   "\"sometimes\""}));
}

TEST(AppErrorsTest, BadPlacement) {
  EXPECT_EQ(appErrors("image: web\nplacement: everywhere\n"),
            (Errors{"apps/web.yaml:2:12: placement: expected one of spread, origin, every-node, got \"everywhere\""}));
  EXPECT_EQ(appErrors("image: web\nplacement: [origin]\n"),
            (Errors{"apps/web.yaml:2:12: placement: expected a string, got a list"}));
}

TEST(AppErrorsTest, NegativeReplicas) {
  EXPECT_EQ(appErrors("image: web\nreplicas: -1\n"), (Errors{"apps/web.yaml:2:11: replicas: must be at least 0, got -1"}));
}

TEST(AppErrorsTest, HugeReplicas) {
  EXPECT_EQ(appErrors("image: web\nreplicas: 99999999999\n"),
            (Errors{"apps/web.yaml:2:11: replicas: must be at most 2147483647, got 99999999999"}));
}

TEST(AppErrorsTest, ContainerPortOutOfRange) {
  EXPECT_EQ(appErrors("image: web\nports:\n  - container: 70000\n"),
            (Errors{"apps/web.yaml:3:16: ports[0].container: must be at most 65535, got 70000"}));
}

TEST(AppErrorsTest, BadShortPort) {
  EXPECT_EQ(appErrors("image: web\nports: [\"80:http\"]\n"),
            (Errors{"apps/web.yaml:2:9: ports[0]: expected a port like \"80\", \"8080:80\", \"8080-8089:80\" or "
                   "\"127.0.0.1:53:53/udp\", got \"80:http\""}));
}

TEST(AppErrorsTest, BadHostRange) {
  EXPECT_EQ(appErrors("image: web\nports:\n  - {container: 80, host: 9000-8000}\n"),
            (Errors{"apps/web.yaml:3:27: ports[0].host: expected a port like 8080 or a range like 8080-8089, got "
                   "\"9000-8000\""}));
}

TEST(AppErrorsTest, PortItemOfWrongType) {
  EXPECT_EQ(appErrors("image: web\nports:\n  - 8080\n"),
            (Errors{"apps/web.yaml:3:5: ports[0]: expected a string or a map, got 8080"}));
}

TEST(AppErrorsTest, MissingContainerPort) {
  EXPECT_EQ(appErrors("image: web\nports:\n  - host: 8080\n"), (Errors{"apps/web.yaml:3:5: ports[0].container: required"}));
}

TEST(AppErrorsTest, FixedHostPortWithThreeReplicas) {
  EXPECT_EQ(appErrors("image: web\nreplicas: 3\nports:\n  - container: 80\n    host: 8080\n"),
            (Errors{"apps/web.yaml:5:11: ports[0].host: host port 8080 can't be published by 3 replicas; give a range "
                   "like 8080-8082"}));
}

TEST(AppErrorsTest, FixedHostPortShortFormWithTwoReplicas) {
  EXPECT_EQ(appErrors("image: web\nreplicas: 2\nports: [\"8080:80\"]\n"),
            (Errors{"apps/web.yaml:3:9: ports[0]: host port 8080 can't be published by 2 replicas; give a range like "
                   "8080-8081"}));
}

TEST(AppErrorsTest, FixedHostPortWithSurge) {
  EXPECT_EQ(appErrors("image: web\nports: [\"8080:80\"]\nupdate:\n  max_surge: 1\n"),
            (Errors{"apps/web.yaml:4:14: update.max_surge: must be 0 because ports[0] publishes the fixed host port "
                   "8080: a new container can't bind it while the old one holds it"}));
}

TEST(AppErrorsTest, RangeNarrowerThanReplicasPlusSurge) {
  EXPECT_EQ(appErrors("image: web\nreplicas: 3\nports:\n  - container: 80\n    host: 8080-8082\n"),
            (Errors{"apps/web.yaml:5:11: ports[0].host: host range 8080-8082 has 3 ports but up to 4 containers run at "
                   "once (replicas 3 + max_surge 1); widen it to 8080-8083"}));
}

TEST(AppErrorsTest, UpdateCannotProceed) {
  EXPECT_EQ(appErrors("image: web\nupdate:\n  max_surge: 0\n"),
            (Errors{"apps/web.yaml:3:3: update: max_surge and max_unavailable can't both be 0: an update could never "
                   "replace a container"}));
}

TEST(AppErrorsTest, ReservedLabel) {
  EXPECT_EQ(appErrors("image: web\nlabels:\n  shoal.app: x\n  team: a\n"),
            (Errors{"apps/web.yaml:3:14: labels.shoal.app: labels starting with \"shoal.\" are reserved for shoal"}));
}

TEST(AppErrorsTest, EnvValueMapIsAnError) {
  EXPECT_EQ(appErrors("image: web\nenv:\n  A:\n    b: 1\n"),
            (Errors{"apps/web.yaml:4:5: env.A: expected a string, a number, a boolean or nothing, got a map"}));
}

TEST(AppErrorsTest, RelativeVolumeTarget) {
  EXPECT_EQ(appErrors("image: web\nvolumes:\n  - {name: data, target: data}\n"),
            (Errors{"apps/web.yaml:3:26: volumes[0].target: must be an absolute path, got \"data\""}));
}

TEST(AppErrorsTest, HealthWithoutCheck) {
  EXPECT_EQ(appErrors("image: web\nhealth:\n  retries: 0\n"),
            (Errors{"apps/web.yaml:3:3: health.cmd: required (or http)",
                   "apps/web.yaml:3:12: health.retries: must be at least 1, got 0"}));
}

TEST(AppErrorsTest, BadAppFileName) {
  EXPECT_EQ(appErrors("image: web\n", "apps/Web_1.yaml"),
            (Errors{"apps/Web_1.yaml: app name \"Web_1\" (the file's name) must be 1-63 lowercase letters, digits or "
                   "'-', starting with a letter or digit"}));
}

TEST(AppErrorsTest, CpusMustBePositive) {
  EXPECT_EQ(appErrors("image: web\nresources: {cpus: 0, memory: lots}\n"),
            (Errors{"apps/web.yaml:2:19: resources.cpus: must be more than 0, got 0",
                   "apps/web.yaml:2:30: resources.memory: expected a size like 512k, 64M, 2G, got \"lots\""}));
}

TEST(AppErrorsTest, RoleAndPlacementTogether) {
  EXPECT_EQ(appErrors("image: web\nrole: hub\nplacement: every-node\n"),
            (Errors{"apps/web.yaml:3:1: placement: role and placement can't be used together: an app with a role "
                   "runs on every node holding it"}));
  // Even the default, written out.
  EXPECT_EQ(appErrors("image: web\nplacement: spread\nrole: hub\n"),
            (Errors{"apps/web.yaml:2:1: placement: role and placement can't be used together: an app with a role "
                   "runs on every node holding it"}));
}

TEST(AppErrorsTest, BadRoleName) {
  EXPECT_EQ(appErrors("image: web\nrole: Edge_1\n"),
            (Errors{"apps/web.yaml:2:7: role: must be a role name: 1-63 lowercase letters, digits or '-', starting "
                   "with a letter or digit, got \"Edge_1\""}));
  EXPECT_EQ(appErrors("image: web\nrole: [hub]\n"), (Errors{"apps/web.yaml:2:7: role: expected a string, got a list"}));
}

TEST(AppErrorsTest, ConstraintValues) {
  EXPECT_EQ(appErrors("image: web\nconstraints:\n  zone: \"!\"\n  disk: \"\"\n  ssd: true\n  rack: \"!!a\"\n"),
            (Errors{"apps/web.yaml:3:9: constraints.zone: must be a label value, or !value for nodes without it, got "
                   "\"!\"",
                   "apps/web.yaml:4:9: constraints.disk: must not be empty",
                   "apps/web.yaml:5:8: constraints.ssd: expected a string, got true",
                   "apps/web.yaml:6:9: constraints.rack: must be a label value, or !value for nodes without it, got "
                   "\"!!a\""}));
}

TEST(AppErrorsTest, ConstraintKeys) {
  EXPECT_EQ(appErrors("image: web\nconstraints: {\"my zone\": a}\n"),
            (Errors{"apps/web.yaml:2:15: constraints.my zone: must be a label key: up to 63 letters, digits, '-', '_' "
                   "or '.', starting and ending with a letter or digit, after an optional DNS prefix like "
                   "example.com/, got \"my zone\""}));
  EXPECT_EQ(appErrors("image: web\nconstraints: [disk]\n"),
            (Errors{"apps/web.yaml:2:14: constraints: expected a map, got a list"}));
}

}  // namespace
}  // namespace shoal::test
