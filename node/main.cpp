// shoal: one node. `shoal [node.yaml]` reconciles the spec repo named in node.yaml onto Docker
// until SIGTERM or SIGINT, then exits 0 and leaves the apps running.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/log.h"
#include "node/node.h"
#include "schemas/node_config.h"

namespace {

constexpr const char* kUsage =
    "usage: shoal [NODE_YAML]\n"
    "  Runs a shoal node as NODE_YAML (default: ./node.yaml) says: polls the spec repo,\n"
    "  keeps Docker equal to it, serves https://LISTEN:PORT/v1/status to operator certificates.\n"
    "  SIGTERM or SIGINT stops the node (exit 0); the apps keep running.\n"
    "  Exit codes: 0 stopped, 1 could not start, 2 invalid node.yaml.\n";

}  // namespace

// Read only by LeakSanitizer (the sanitizer build): libgit2 1.5.1 leaks one pcre2 match block per
// remote lookup, which GitSource does once per process (gitops/git_source.cpp). Not ours to free.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }

int main(int argc, char** argv) {
  std::string path = "node.yaml";
  if (argc > 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (argc == 2) {
    std::string arg = argv[1];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::puts("shoal 0.1.0");
      return 0;
    }
    path = arg;
  }
  auto config = shoal::loadNodeConfig(path);
  if (!config) {
    std::fprintf(stderr, "shoal: %s is not valid:\n%s", path.c_str(), shoal::formatDiagnostics(config.error()).c_str());
    return 2;
  }
  shoal::initLogging(config->log_level);
  // Signals are taken by `sigwait` on this thread only: every thread started later inherits the
  // mask. As PID 1 in a container the node must handle SIGTERM itself (NOTES.md).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto log = shoal::logger("node");
  auto ctx = shoal::buildNode(*config);
  if (!ctx) {
    log->critical("cannot start: {}", ctx.error().message);
    return 1;
  }
  shoal::NodeRunner runner(**ctx);
  if (auto st = runner.start(); !st) {
    log->critical("cannot start: {}", st.error().message);
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log->info("{} received: stopping (apps keep running)", strsignal(sig));
  runner.stop();
  log->info("stopped");
  return 0;
}
