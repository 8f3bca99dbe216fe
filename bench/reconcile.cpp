// bench_reconcile: the figures of issue 6, measured on this machine with the real parts.
//
//   ready-s                        process start -> the status endpoint answers (median of 5)
//   push-to-running-s              git push of an env change (prebuilt image) -> new container
//                                  healthy, as the status endpoint shows it (median of 5)
//   drift-repair-s                 docker rm -f of an app container -> a replacement running (median of 5)
//   rebuilds-on-spec-only-change   builds started by a commit that changes only `replicas`
//   node-rss-mib                   the node's RSS, idle, with 10 apps running
//   plan-10k-ms                    the pure diff of 10,000 desired against 10,000 observed replicas
//
// Prints `key: value` lines. Needs Docker and a built `shoal` (scripts/test builds both).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "reconcile/plan.h"
#include "tests/harness/harness.h"

using namespace shoal;
using namespace shoal::testing;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

double seconds(Steady::time_point a, Steady::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

nlohmann::json status(const NodeProcess& node) {
  auto r = node.get("/v1/status");
  if (!r || r->status != 200) return nlohmann::json::object();
  return nlohmann::json::parse(r->body, nullptr, false);
}

bool appHealthyAt(const NodeProcess& node, const std::string& app, const std::string& commit, int replicas) {
  auto s = status(node);
  if (!s.contains("apps")) return false;
  for (const auto& a : s["apps"]) {
    if (a["name"] == app) return a["phase"] == "healthy" && a["commit"] == commit && a["replicas"]["ready"] == replicas;
  }
  return false;
}

std::string app(const std::string& greeting, int replicas = 1) {
  return "image: shoal/busybox:local\nreplicas: " + std::to_string(replicas) + "\nenv:\n  GREETING: \"" + greeting +
         "\"\ncommand: \"mkdir -p /w; echo $GREETING > /w/index.html; exec httpd -f -p 80 -h /w\"\n"
         "health:\n  http: {port: 80}\n  interval: 200ms\n  timeout: 1s\n  retries: 3\n";
}

double readyS(const std::string& repo, const Pki& pki, const std::string& base) {
  std::vector<double> runs;
  for (int i = 0; i < 5; ++i) {
    NodeProcess node({base + "/ready" + std::to_string(i), repo, pki.dir, 0, ""});
    auto t0 = Steady::now();
    node.start();
    waitFor([&] { return node.get("/v1/status").has_value(); }, 20s, 2ms);
    runs.push_back(seconds(t0, Steady::now()));
    node.stop();
  }
  return median(runs);
}

std::vector<std::string> containersOf(const std::string& cluster, const std::string& app) {
  std::string app_filter = app.empty() ? "" : " --filter label=shoal.app=" + app;
  auto r = sh("docker ps -q --filter label=shoal.cluster=" + cluster + app_filter + " --filter status=running");
  std::vector<std::string> ids;
  std::istringstream in(r.output);
  for (std::string id; in >> id;) ids.push_back(id);
  return ids;
}

int64_t metric(const NodeProcess& node, const std::string& name) {
  auto r = node.get("/metrics");
  if (!r) return -1;
  auto pos = r->body.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stoll(r->body.substr(pos + name.size() + 2));
}

double rssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

double plan10kMs() {
  Desired d;
  d.cluster = "bench";
  d.node_id = "0123456789abcdef";
  std::vector<ContainerInfo> observed;
  for (int a = 0; a < 1000; ++a) {
    AppSpec spec;
    spec.name = "app" + std::to_string(a);
    spec.replicas = 10;
    spec.env["V"] = a % 2 == 0 ? "same" : "new";  // half the apps are mid-update
    DesiredApp app;
    app.name = spec.name;
    app.config = containerConfigFor(spec, "img", d.cluster, d.node_id, "c");
    app.hash = app.config.labels[kLabelSpec];
    app.good_hash = app.hash;
    app.replicas = 10;
    d.apps.push_back(app);
    spec.env["V"] = "same";
    ContainerConfig running = containerConfigFor(spec, "img", d.cluster, d.node_id, "c");
    for (int r = 0; r < 10; ++r) {
      ContainerInfo c;
      c.id = spec.name + "-" + std::to_string(r);
      c.name = replicaName(spec.name, running.labels[kLabelSpec], d.node_id, r);
      c.labels = running.labels;
      c.state = ContainerState::kRunning;
      c.health = Health::kHealthy;
      observed.push_back(c);
    }
  }
  std::vector<double> runs;
  size_t steps = 0;
  for (int i = 0; i < 7; ++i) {
    auto t0 = Steady::now();
    Plan p = diff(d, observed, TimePoint{});
    runs.push_back(seconds(t0, Steady::now()) * 1000);
    steps = p.steps.size();
  }
  std::printf("plan-10k-steps: %zu\n", steps);
  return median(runs);
}

}  // namespace

int main() {
  if (sh("docker image inspect shoal/busybox:local").exit_code != 0 &&
      sh(sourceDir() + "/scripts/base-image").exit_code != 0) {
    std::fprintf(stderr, "bench_reconcile: needs Docker and shoal/busybox:local (scripts/base-image)\n");
    return 1;
  }
  std::printf("plan-10k-ms: %.1f\n", plan10kMs());
  std::fflush(stdout);
  TempDir dir;
  Pki pki(dir.path() + "/pki");
  SpecRepo repo(dir.path());
  std::string cluster = "bench" + uniqueName();
  // Whatever happens, the bench's containers go (the nodes of ready-s made some too).
  struct Cleanup {
    std::string cluster;
    ~Cleanup() { sh("docker ps -aq --filter label=shoal.cluster=" + cluster + " | xargs -r docker rm -f"); }
  } cleanup{cluster};
  std::string cluster_yaml = "name: " + cluster + "\n";
  repo.commit({{"cluster.yaml", cluster_yaml}, {"apps/web.yaml", app("g0")}}, "first");
  std::printf("ready-s: %.3f\n", readyS(repo.bare(), pki, dir.path()));
  std::fflush(stdout);

  NodeProcess node({dir.path() + "/node", repo.bare(), pki.dir, 0, ""});
  node.start();
  if (!waitFor([&] { auto s = status(node);
        return s.contains("spec") && appHealthyAt(node, "web", s["spec"]["applied_commit"].get<std::string>(), 1); }, 60s)) {
    std::fprintf(stderr, "bench_reconcile: the node did not come up:\n%s\n", node.log().c_str());
    return 1;
  }
  std::vector<double> push;
  for (int i = 1; i <= 5; ++i) {
    auto t0 = Steady::now();
    std::string c = repo.commit({{"apps/web.yaml", app("g" + std::to_string(i))}}, "env " + std::to_string(i));
    if (!waitFor([&] { return appHealthyAt(node, "web", c, 1); }, 60s, 10ms)) {
      std::fprintf(stderr, "push %d timed out:\n%s\n", i, node.log().c_str());
      return 1;
    }
    push.push_back(seconds(t0, Steady::now()));
  }
  std::printf("push-to-running-s: %.3f\n", median(push));
  std::fflush(stdout);

  std::vector<double> drift;
  for (int i = 0; i < 5; ++i) {
    auto before = containersOf(cluster, "web");
    if (before.empty()) break;
    auto t0 = Steady::now();
    sh("docker rm -f " + before[0]);
    waitFor([&] {
      auto now = containersOf(cluster, "web");
      return !now.empty() && now[0] != before[0];
    }, 30s, 10ms);
    drift.push_back(seconds(t0, Steady::now()));
    waitFor([&] { return containersOf(cluster, "web").size() == 1; }, 30s);
    std::this_thread::sleep_for(500ms);  // let the node settle before the next trial
  }
  std::printf("drift-repair-s: %.3f\n", median(drift));

  int64_t builds_before = metric(node, "shoal_builds_started_total");
  std::map<std::string, std::optional<std::string>> ten;
  for (int i = 0; i < 10; ++i) ten["apps/app" + std::to_string(i) + ".yaml"] = app("x", 1);
  ten["apps/web.yaml"] = app("g5", 2);
  std::string c = repo.commit(ten, "replicas only, and 10 apps");
  waitFor([&] { return appHealthyAt(node, "app9", c, 1) && appHealthyAt(node, "web", c, 2); }, 90s);
  std::printf("rebuilds-on-spec-only-change: %lld\n",
              static_cast<long long>(metric(node, "shoal_builds_started_total") - builds_before));
  std::this_thread::sleep_for(10s);  // idle
  std::printf("node-rss-mib: %.1f\n", rssMib(node.pid()));
  std::printf("containers-running: %zu\n", containersOf(cluster, "").size());
  node.stop();
  return 0;
}
