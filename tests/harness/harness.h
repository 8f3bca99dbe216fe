// What integration tests, end-to-end tests and benchmarks need to drive real parts: temp dirs,
// shell commands, git spec repos, a `shoal` node as a child process, HTTPS to its status
// endpoint with an operator certificate, and waiting for a condition with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace shoal::testing {

// A fresh directory under /tmp, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `command` with /bin/sh; never throws.
CommandResult sh(const std::string& command);
void writeFile(const std::string& path, const std::string& content);
std::string readFile(const std::string& path);

// Polls `condition` every `every` until it holds or `timeout` passes. Returns whether it held.
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every = std::chrono::milliseconds(100));

// Samples `check` every 300 ms for `span` and returns "" when it held each time, or its reason at
// the first sample that failed (a check returns "" when it holds). The span only bounds the
// sampling: nothing is asserted about time.
std::string holdsFor(const std::function<std::string()>& check, std::chrono::seconds span);

// A bare spec repo (branch main) and a work clone to commit and push from.
class SpecRepo {
 public:
  explicit SpecRepo(const std::string& dir);
  const std::string& bare() const { return bare_; }
  // Writes (or, with nullopt, deletes) files in the work clone, commits, pushes; returns the id.
  std::string commit(const std::map<std::string, std::optional<std::string>>& files, const std::string& message);
  // `git log --notes=shoal` of `commit` in the bare repo: what the node wrote back.
  std::string note(const std::string& commit) const;

 private:
  std::string bare_;
  std::string work_;
};

// The cluster and operator CAs and an operator certificate, made by scripts/make-cas.
struct Pki {
  explicit Pki(const std::string& dir);
  std::string dir;
};

// A `shoal` node as a child process with its own data dir and node.yaml.
class NodeProcess {
 public:
  struct Options {
    std::string dir;         // holds node.yaml, data/, node.log
    std::string spec_repo;
    std::string pki_dir;
    int api_port = 0;        // 0: a free port is picked
    std::string extra_yaml;  // appended to node.yaml
  };
  explicit NodeProcess(Options options);
  ~NodeProcess();  // SIGKILL if still running

  void start();
  // SIGTERM and wait; returns the exit code.
  int stop();
  void kill9();
  bool running();
  int apiPort() const { return options_.api_port; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  const std::string& nodeYaml() const { return node_yaml_; }

  // GET https://127.0.0.1:PORT/PATH with the operator certificate; nullopt if no answer.
  struct Response {
    long status = 0;
    std::string body;
  };
  std::optional<Response> get(const std::string& path) const;

 private:
  Options options_;
  std::string node_yaml_;
  pid_t pid_ = -1;
};

// GET https://HOST:PORT/PATH with the operator certificate of `pki_dir` (made by make-cas),
// trusting its cluster CA; nullopt if no answer within 5 s.
std::optional<NodeProcess::Response> httpsGet(const std::string& host, int port, const std::string& path,
                                              const std::string& pki_dir);

// The `shoal` binary and the source tree, as CMake passed them in.
std::string shoalBinary();
std::string sourceDir();
int freePort();
// A unique name per test process, for labels and cluster names: "t<pid>x<n>".
std::string uniqueName();

}  // namespace shoal::testing
