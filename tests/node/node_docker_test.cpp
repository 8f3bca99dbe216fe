// End to end on this machine: a real `shoal` process, a real bare git repo pushed to by the test,
// the real Docker engine, the real HTTPS status endpoint with an operator certificate. These are
// the user's story steps of issue 6, each with the fault it names injected for real.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/harness/harness.h"

namespace shoal::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct Row {
  std::string id, name, state, status, version;
};

class NodeDockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sh("docker version --format '{{.Server.Version}}'").exit_code, 0)
        << "Docker is required for these tests (scripts/test starts dockerd)";
    if (sh("docker image inspect shoal/busybox:local").exit_code != 0) {
      ASSERT_EQ(sh(sourceDir() + "/scripts/base-image").exit_code, 0);
    }
    repo_ = std::make_unique<SpecRepo>(dir_.path());
    pki_ = std::make_unique<Pki>(dir_.path() + "/pki");
  }

  void TearDown() override {
    if (node_ && HasFailure()) std::cerr << "---- node log ----\n" << node_->log() << "\n";
    node_.reset();
    sh("docker ps -aq --filter label=shoal.cluster=" + cluster_ + " | xargs -r docker rm -f");
    sh("docker rm -f " + cluster_ + "-foreign " + cluster_ + "-plain");
  }

  std::string clusterYaml(int min_nodes = 1, const std::string& below = "pause") {
    return "name: " + cluster_ + "\nmin_nodes: " + std::to_string(min_nodes) + "\nbelow_min: " + below + "\n";
  }

  static std::string webYaml(int replicas, const std::string& greeting, const std::string& health = "",
                             const std::string& extra = "") {
    return "build: web\nreplicas: " + std::to_string(replicas) + "\nenv:\n  GREETING: \"" + greeting + "\"\n" +
           "ports:\n  - container: 80\n    host: 18100-18199\n" +
           (health.empty() ? "health:\n  http: {port: 80}\n  interval: 500ms\n  timeout: 1s\n  retries: 2\n  deadline: 20s\n"
                           : health) + extra;
  }

  std::map<std::string, std::optional<std::string>> sources(const std::string& web) {
    return {{"cluster.yaml", clusterYaml()},
            {"apps/web.yaml", web},
            {"web/Dockerfile", "FROM shoal/busybox:local\nCOPY start.sh /start.sh\nCMD [\"sh\", \"/start.sh\"]\n"},
            {"web/start.sh", "mkdir -p /www\necho \"$GREETING\" > /www/index.html\nsleep \"${DELAY:-0}\"\n"
                             "exec httpd -f -p 80 -h /www\n"}};
  }

  void startNode() {
    if (!node_) node_ = std::make_unique<NodeProcess>(NodeProcess::Options{dir_.path() + "/node", repo_->bare(), pki_->dir, 0, ""});
    node_->start();
    ASSERT_TRUE(waitFor([&] { return node_->get("/v1/status").has_value(); }, 20s)) << node_->log();
  }

  json status() {
    auto r = node_->get("/v1/status");
    if (!r || r->status != 200) return json::object();
    return json::parse(r->body, nullptr, false);
  }

  json webApp() {
    json s = status();
    if (!s.contains("apps")) return json::object();
    for (const json& a : s["apps"])
      if (a["name"] == "web") return a;
    return json::object();
  }

  bool webHealthy(int ready, const std::string& commit = "") {
    json a = webApp();
    return !a.empty() && a["phase"] == "healthy" && a["replicas"]["ready"] == ready &&
           (commit.empty() || a["commit"] == commit);
  }

  std::vector<Row> rows(const std::string& extra_filter = "") {
    auto r = sh("docker ps -a --filter label=shoal.cluster=" + cluster_ + " " + extra_filter +
                " --format '{{.ID}}|{{.Names}}|{{.State}}|{{.Status}}|{{.Label \"shoal.spec\"}}'");
    std::vector<Row> out;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      Row row;
      std::istringstream f(line);
      std::getline(f, row.id, '|');
      std::getline(f, row.name, '|');
      std::getline(f, row.state, '|');
      std::getline(f, row.status, '|');
      std::getline(f, row.version, '|');
      if (!row.id.empty()) out.push_back(row);
    }
    return out;
  }

  int healthyCount() {
    int n = 0;
    for (const Row& r : rows())
      if (r.state == "running" && r.status.find("(healthy)") != std::string::npos) ++n;
    return n;
  }

  std::string firstHostPort() {
    json a = webApp();
    for (const json& c : a["containers"])
      for (const json& p : c["ports"]) return std::to_string(p["host"].get<int>());
    return "";
  }

  // Up and healthy with `replicas` replicas at a first commit.
  std::string deployFirst(int replicas) {
    std::string c1 = repo_->commit(sources(webYaml(replicas, "one")), "first");
    startNode();
    EXPECT_TRUE(waitFor([&] { return webHealthy(replicas, c1); }, 90s)) << status().dump(2);
    return c1;
  }

  TempDir dir_;
  std::string cluster_ = uniqueName();
  std::unique_ptr<SpecRepo> repo_;
  std::unique_ptr<Pki> pki_;
  std::unique_ptr<NodeProcess> node_;
};

TEST_F(NodeDockerTest, PushConvergesWithARollingUpdateThatNeverDropsToZeroHealthy) {
  std::string c1 = deployFirst(2);
  EXPECT_EQ(sh("curl -s -m 2 http://127.0.0.1:" + firstHostPort() + "/").output, "one\n");
  EXPECT_TRUE(waitFor([&] { return repo_->note(c1).find("healthy") != std::string::npos; }, 10s)) << repo_->note(c1);

  std::atomic<bool> sampling{true};
  std::atomic<int> min_healthy{100};
  std::thread sampler([&] {
    while (sampling) {
      int n = healthyCount();
      if (n < min_healthy) min_healthy = n;
      std::this_thread::sleep_for(50ms);
    }
  });
  std::string c2 = repo_->commit(sources(webYaml(3, "two")), "three replicas, new greeting");
  bool converged = waitFor([&] { return webHealthy(3, c2); }, 60s);
  sampling = false;
  sampler.join();
  ASSERT_TRUE(converged) << status().dump(2);
  EXPECT_GE(min_healthy.load(), 1) << "an app with 2 replicas dropped to zero healthy during the update";
  std::cout << "min healthy during the update: " << min_healthy.load() << "\n";
  auto now = rows();
  EXPECT_EQ(now.size(), 3u);
  EXPECT_EQ(sh("curl -s -m 2 http://127.0.0.1:" + firstHostPort() + "/").output, "two\n");
  EXPECT_TRUE(waitFor([&] { return repo_->note(c2).find("shoal: healthy") != std::string::npos; }, 10s))
      << repo_->note(c2);
}

TEST_F(NodeDockerTest, ABrokenCommitIsRefusedWithFileLineAndColumnAndTheLastGoodKeepsRunning) {
  std::string c1 = deployFirst(1);
  auto before = rows();
  auto files = sources("build: web\nreplicas: three\nportz: 80\n");
  files["apps/api.yaml"] = "build: api-src\n";
  std::string bad = repo_->commit(files, "broken");
  ASSERT_TRUE(waitFor([&] { return status()["spec"].contains("refused"); }, 15s)) << status().dump(2);
  json refused = status()["spec"]["refused"];
  EXPECT_EQ(refused["commit"], bad);
  std::vector<std::string> errors = refused["errors"];
  ASSERT_EQ(errors.size(), 3u) << refused.dump(2);
  EXPECT_EQ(errors[0], "apps/api.yaml:1:8: build: directory \"api-src\" is not in the repo at this commit");
  EXPECT_EQ(errors[1], "apps/web.yaml:2:11: replicas: expected an integer, got \"three\"");
  EXPECT_EQ(errors[2].rfind("apps/web.yaml:3:1: portz: unknown key; expected one of: ", 0), 0u) << errors[2];
  EXPECT_EQ(status()["spec"]["applied_commit"], c1);
  auto after = rows();
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after[0].id, before[0].id);
  auto events = node_->get("/v1/events?since=0&limit=1000");
  ASSERT_TRUE(events);
  EXPECT_NE(events->body.find("commit.refused"), std::string::npos);
  EXPECT_TRUE(waitFor([&] { return repo_->note(bad).find("replicas: expected an integer") != std::string::npos; }, 10s))
      << repo_->note(bad);
}

TEST_F(NodeDockerTest, ARemovedContainerComesBackAndForeignContainersAreNeverTouched) {
  deployFirst(1);
  ASSERT_EQ(sh("docker run -d --name " + cluster_ + "-foreign --label shoal.cluster=" + cluster_ +
               " --label shoal.node=someone-else --label shoal.app=web shoal/busybox:local sleep 600").exit_code, 0);
  ASSERT_EQ(sh("docker run -d --name " + cluster_ + "-plain shoal/busybox:local sleep 600").exit_code, 0);
  std::string victim;
  for (const Row& r : rows())
    if (r.name.rfind("shoal-web-", 0) == 0) victim = r.id;
  ASSERT_FALSE(victim.empty());
  ASSERT_EQ(sh("docker rm -f " + victim).exit_code, 0);
  EXPECT_TRUE(waitFor([&] {
    for (const Row& r : rows("--filter label=shoal.app=web"))
      if (r.name.rfind("shoal-web-", 0) == 0 && r.id != victim && r.state == "running") return true;
    return false;
  }, 15s)) << status().dump(2);
  EXPECT_TRUE(waitFor([&] { return webHealthy(1); }, 20s));
  EXPECT_EQ(sh("docker inspect -f '{{.State.Status}}' " + cluster_ + "-foreign").output, "running\n");
  EXPECT_EQ(sh("docker inspect -f '{{.State.Status}}' " + cluster_ + "-plain").output, "running\n");
}

TEST_F(NodeDockerTest, DeletingAnAppFilePrunesItsContainers) {
  auto files = sources(webYaml(1, "one"));
  files["apps/worker.yaml"] = "image: shoal/busybox:local\nreplicas: 2\ncommand: sleep 600\n";
  repo_->commit(files, "two apps");
  startNode();
  ASSERT_TRUE(waitFor([&] { return rows("--filter label=shoal.app=worker").size() == 2 && webHealthy(1); }, 90s))
      << status().dump(2);
  std::string web_id = rows("--filter label=shoal.app=web")[0].id;
  repo_->commit({{"apps/worker.yaml", std::nullopt}}, "no more worker");
  EXPECT_TRUE(waitFor([&] { return rows("--filter label=shoal.app=worker").empty(); }, 20s)) << status().dump(2);
  ASSERT_EQ(rows("--filter label=shoal.app=web").size(), 1u);
  EXPECT_EQ(rows("--filter label=shoal.app=web")[0].id, web_id);
}

TEST_F(NodeDockerTest, KillNineMidRolloutResumesWithoutDuplicatesOrOrphans) {
  deployFirst(3);
  std::string v1 = rows()[0].version;
  // Each new replica takes ~1.5 s to answer: the rollout is long enough to be killed in.
  std::string slow = "build: web\nreplicas: 3\nenv:\n  GREETING: two\n  DELAY: \"1.5\"\n"
                     "ports:\n  - container: 80\n    host: 18100-18199\n"
                     "health:\n  http: {port: 80}\n  interval: 500ms\n  start_period: 10s\n  deadline: 30s\n";
  std::string c2 = repo_->commit(sources(slow), "v2, slow to start");
  ASSERT_TRUE(waitFor([&] {
    for (const Row& r : rows())
      if (r.version != v1) return true;
    return false;
  }, 30s));
  node_->kill9();
  auto during = rows();
  node_->start();
  ASSERT_TRUE(waitFor([&] { return webHealthy(3, c2); }, 60s)) << status().dump(2);
  auto after = rows();
  std::set<std::string> names;
  for (const Row& r : after) {
    names.insert(r.name);
    EXPECT_NE(r.version, v1) << "orphan of the old version: " << r.name;
  }
  EXPECT_EQ(after.size(), 3u) << "duplicates after resuming";
  EXPECT_EQ(names.size(), after.size());
  std::cout << "containers when killed: " << during.size() << "\n";
}

TEST_F(NodeDockerTest, ARestartedNodeAdoptsRunningAppsWithoutRestartingThem) {
  deployFirst(2);
  auto before = rows();
  std::string started_before = sh("docker inspect -f '{{.State.StartedAt}}' " + before[0].id).output;
  EXPECT_EQ(node_->stop(), 0) << "SIGTERM must end the node with exit 0";
  EXPECT_EQ(rows().size(), 2u) << "apps keep running while the node is down";
  for (const Row& r : rows()) EXPECT_EQ(r.state, "running");
  startNode();
  ASSERT_TRUE(waitFor([&] { return webHealthy(2); }, 30s));
  auto after = rows();
  ASSERT_EQ(after.size(), 2u);
  std::set<std::string> ids_before, ids_after;
  for (const Row& r : before) ids_before.insert(r.id);
  for (const Row& r : after) ids_after.insert(r.id);
  EXPECT_EQ(ids_before, ids_after);
  EXPECT_EQ(sh("docker inspect -f '{{.State.StartedAt}}' " + before[0].id).output, started_before);
}

TEST_F(NodeDockerTest, MinNodesHoldsAppsAndReleasesThem) {
  deployFirst(2);
  auto files = sources(webYaml(2, "one"));
  files["cluster.yaml"] = clusterYaml(2, "pause");
  repo_->commit(files, "min 2, pause");
  ASSERT_TRUE(waitFor([&] {
    auto rs = rows();
    return rs.size() == 2 && rs[0].state == "paused" && rs[1].state == "paused";
  }, 20s)) << status().dump(2);
  // Docker shows the pause before the reconcile pass that made it publishes its status.
  EXPECT_TRUE(waitFor([&] { return status()["cluster"]["apps"] == "pause"; }, 10s)) << status().dump(2);
  files["cluster.yaml"] = clusterYaml(2, "stop");
  repo_->commit(files, "min 2, stop");
  ASSERT_TRUE(waitFor([&] {
    auto rs = rows();
    return rs.size() == 2 && rs[0].state == "exited" && rs[1].state == "exited";
  }, 30s)) << status().dump(2);
  files["cluster.yaml"] = clusterYaml(1, "stop");
  repo_->commit(files, "min 1");
  EXPECT_TRUE(waitFor([&] { return webHealthy(2); }, 30s)) << status().dump(2);
}

TEST_F(NodeDockerTest, AFailingHealthCheckRollsBackAndStatusNamesTheAppCommitAndCheck) {
  deployFirst(2);
  auto before = rows();
  std::string bad_health = "health:\n  cmd: [\"false\"]\n  interval: 500ms\n  retries: 1\n  deadline: 20s\n";
  std::string c2 = repo_->commit(sources(webYaml(2, "two", bad_health)), "a check that fails");
  ASSERT_TRUE(waitFor([&] { return webApp().contains("rollback"); }, 40s)) << status().dump(2);
  json app = webApp();
  EXPECT_EQ(app["rollback"]["failed_commit"], c2);
  EXPECT_NE(app["rollback"]["reason"].get<std::string>().find("health check `false` failed"), std::string::npos)
      << app.dump(2);
  ASSERT_TRUE(waitFor([&] { return rows().size() == 2 && webHealthy(2); }, 30s)) << status().dump(2);
  std::set<std::string> ids_before, ids_after;
  for (const Row& r : before) ids_before.insert(r.id);
  for (const Row& r : rows()) ids_after.insert(r.id);
  EXPECT_EQ(ids_before, ids_after) << "the old version keeps serving";
  EXPECT_EQ(sh("curl -s -m 2 http://127.0.0.1:" + firstHostPort() + "/").output, "one\n");
  EXPECT_TRUE(waitFor([&] { return repo_->note(c2).find("rolled_back") != std::string::npos; }, 10s))
      << repo_->note(c2);
}

TEST_F(NodeDockerTest, AnUnreachableRepoIsShownAndTheAppsKeepRunning) {
  deployFirst(1);
  ASSERT_EQ(sh("mv " + repo_->bare() + " " + repo_->bare() + ".away").exit_code, 0);
  ASSERT_TRUE(waitFor([&] { return status()["spec"].contains("error"); }, 15s)) << status().dump(2);
  EXPECT_NE(status()["spec"]["error"].get<std::string>().find("no such directory"), std::string::npos)
      << status()["spec"].dump(2);
  EXPECT_TRUE(webHealthy(1));
  ASSERT_EQ(sh("mv " + repo_->bare() + ".away " + repo_->bare()).exit_code, 0);
  EXPECT_TRUE(waitFor([&] { return !status()["spec"].contains("error"); }, 90s)) << status().dump(2);
}

TEST_F(NodeDockerTest, AnInvalidNodeYamlExitsTwoWithTheReason) {
  writeFile(dir_.path() + "/bad.yaml", "spec:\n  repo: x\n  pol_interval: 1s\n");
  auto r = sh(shoalBinary() + " " + dir_.path() + "/bad.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.yaml:3:3: spec.pol_interval: unknown key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data_dir: required"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace shoal::testing
