// How much a poll of the spec repo costs the node: a no-op poll (nothing new) and a poll that
// fetches one new commit, against a small local repo made here with the `git` CLI.
// Prints `key: value` lines (milliseconds).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "gitops/git_source.h"

namespace {

namespace fs = std::filesystem;

void run(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    std::exit(1);
  }
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

template <typename Fn>
double timeMs(Fn&& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void commitFile(const fs::path& repo, int n) {
  std::ofstream(repo / "apps" / "web.yaml") << "replicas: " << n << "\n";
  run("git -C " + repo.string() + " commit -q -a -m change" + std::to_string(n));
}

}  // namespace

int main() {
  shoal::initLogging("warn");
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_AUTHOR_NAME", "bench", 1);
  setenv("GIT_AUTHOR_EMAIL", "bench@localhost", 1);
  setenv("GIT_COMMITTER_NAME", "bench", 1);
  setenv("GIT_COMMITTER_EMAIL", "bench@localhost", 1);
  char tmpl[] = "/tmp/shoal-bench-gitops-XXXXXX";
  fs::path tmp = mkdtemp(tmpl);
  fs::path repo = tmp / "spec";
  // A small spec repo: cluster.yaml, 20 apps, one app source dir.
  run("git init -q -b main " + repo.string());
  fs::create_directories(repo / "apps" / "web" / "src");
  std::ofstream(repo / "cluster.yaml") << "min_nodes: 1\n";
  for (int i = 0; i < 20; ++i) std::ofstream(repo / "apps" / ("app" + std::to_string(i) + ".yaml")) << "image: x\n";
  std::ofstream(repo / "apps" / "web" / "Dockerfile") << "FROM scratch\n";
  std::ofstream(repo / "apps" / "web.yaml") << "replicas: 0\n";
  run("git -C " + repo.string() + " add -A && git -C " + repo.string() + " commit -q -m init");

  shoal::GitSourceOptions options;
  options.remote = repo.string();
  options.mirror_dir = (tmp / "spec.git").string();
  shoal::GitSource source(options);
  double first = timeMs([&] { (void)source.poll(); });

  std::vector<double> noop;
  for (int i = 0; i < 200; ++i) {
    noop.push_back(timeMs([&] {
      if (!source.poll()) std::exit(1);
    }));
  }
  std::vector<double> changed;
  for (int i = 1; i <= 50; ++i) {
    commitFile(repo, i);
    changed.push_back(timeMs([&] {
      if (!source.poll()) std::exit(1);
    }));
  }
  std::printf("first-poll-ms: %.2f\n", first);
  std::printf("noop-poll-ms: %.3f\n", percentile(noop, 0.5));
  std::printf("noop-poll-p99-ms: %.3f\n", percentile(noop, 0.99));
  std::printf("changed-poll-ms: %.3f\n", percentile(changed, 0.5));
  std::printf("changed-poll-p99-ms: %.3f\n", percentile(changed, 0.99));
  fs::remove_all(tmp);
  return 0;
}
