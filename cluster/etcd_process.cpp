#include "cluster/etcd_process.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "cluster/etcd_admin.h"
#include "cluster/etcd_kv.h"
#include "cluster/etcd_log.h"
#include "common/duration.h"
#include "common/log.h"

extern char** environ;

namespace shoal {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr Duration kHealthInterval{100};
constexpr Duration kHealthCallTimeout{1000};

auto log() { return logger("cluster"); }

Result<std::string> findBinary(const std::string& binary) {
  auto executable = [](const std::string& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (binary.find('/') != std::string::npos) {
    if (executable(binary)) return binary;
    return fail(ErrorCode::kNotFound, "etcd: " + binary + " is not an executable file (install Debian's etcd-server)");
  }
  const char* env = ::getenv("PATH");
  std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (!dir.empty() && executable(dir + "/" + binary)) return dir + "/" + binary;
    start = end + 1;
  }
  return fail(ErrorCode::kNotFound,
              "etcd: no \"" + binary + "\" in PATH (" + path + "): install Debian's etcd-server, or set the binary's path");
}

bool onlyLocal(const std::string& host) { return host == "0.0.0.0" || host == "127.0.0.1"; }

// `initial_cluster` empty: a new one-member cluster; else joining that existing cluster. Both are
// ignored by etcd when the data dir holds a member. `force_new`: --force-new-cluster, once.
std::vector<std::string> etcdArgs(const EtcdProcessOptions& o, const std::string& binary,
                                  const std::string& initial_cluster, bool force_new) {
  auto url = [](const std::string& host, int port) { return "https://" + host + ":" + std::to_string(port); };
  std::string listen_client = url(o.listen_host, o.client_port);
  // This node's own client (and the health check) always reaches etcd on 127.0.0.1.
  if (!onlyLocal(o.listen_host)) listen_client += "," + url("127.0.0.1", o.client_port);
  std::string peer = url(o.advertise_host, o.peer_port);
  bool joining = !initial_cluster.empty();
  std::vector<std::string> args{binary,
          "--name", o.name,
          "--data-dir", o.data_dir,
          "--listen-client-urls", listen_client,
          "--advertise-client-urls", url(o.advertise_host, o.client_port),
          "--listen-peer-urls", url(o.listen_host, o.peer_port),
          "--initial-advertise-peer-urls", peer,
          "--initial-cluster", joining ? initial_cluster : o.name + "=" + peer,
          "--initial-cluster-state", joining ? "existing" : "new",  // ignored when data_dir holds a member
          "--client-cert-auth", "--trusted-ca-file", o.trusted_ca_file,
          "--cert-file", o.cert_file, "--key-file", o.key_file,
          "--peer-client-cert-auth", "--peer-trusted-ca-file", o.trusted_ca_file,
          "--peer-cert-file", o.cert_file, "--peer-key-file", o.key_file,
          "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
          "--logger", "zap", "--log-outputs", "stderr"};
  if (force_new) args.push_back("--force-new-cluster");
  return args;
}

// The parent's environment without ETCD_* variables, which etcd would read as flags.
std::vector<std::string> childEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "ETCD", 4) != 0) env.emplace_back(*e);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return "killed by signal " + std::to_string(WTERMSIG(status)) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

// In the child between fork and exec: async-signal-safe calls only (the parent has threads).
[[noreturn]] void execChild(pid_t parent, int log_fd, int err_fd, const char* path, char* const* argv,
                            char* const* envp) {
  // etcd must not outlive us. PDEATHSIG fires when the *thread* that forked ends: that is the
  // supervisor, which lives as long as etcd is supervised, so it fires only when the node dies
  // without stopping etcd (kill -9, a crash). Then etcd dies the same way: SIGKILL, not SIGTERM,
  // whose graceful stop (a leader hands its leadership over first) kept a dead node's vote
  // answering for seconds, long enough for the others to count it in a quorum that was gone.
  // If the parent died before prctl, the signal will never come: check, as prctl(2) advises.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  // The parent blocks SIGTERM/SIGINT for sigwait, and the mask survives exec: unblock everything,
  // and give every signal its default action (an ignored SIGPIPE would survive exec too).
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(log_fd, 1);
  ::dup2(log_fd, 2);
  ::dup2(err_fd, 3);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  // The parent's sockets, databases and pipes are none of etcd's business.
  if (::close_range(4, ~0U, 0) != 0)
    for (int fd = 4; fd < 65536; ++fd) ::close(fd);
  ::execve(path, argv, envp);
  int err = errno;
  [[maybe_unused]] auto n = ::write(3, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

EtcdProcess::EtcdProcess(EtcdProcessOptions options) : opts_(std::move(options)) {}

EtcdProcess::~EtcdProcess() { stop(); }

bool EtcdProcess::hasData(const std::string& data_dir) {
  std::error_code ec;
  return fs::is_directory(fs::path(data_dir) / "member", ec);
}

bool EtcdProcess::running() const {
  std::lock_guard lock(mu_);
  return pid_ > 0;
}

pid_t EtcdProcess::pid() const {
  std::lock_guard lock(mu_);
  return pid_;
}

int EtcdProcess::restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

std::string EtcdProcess::clientUrl() const {
  return "https://" + opts_.advertise_host + ":" + std::to_string(opts_.client_port);
}
std::string EtcdProcess::localUrl() const { return "https://127.0.0.1:" + std::to_string(opts_.client_port); }
std::string EtcdProcess::peerUrl() const {
  return "https://" + opts_.advertise_host + ":" + std::to_string(opts_.peer_port);
}

Result<uint64_t> EtcdProcess::memberId() const {
  EtcdAdmin admin({localUrl()}, EtcdTls{opts_.cert_file, opts_.key_file, opts_.trusted_ca_file}, kHealthCallTimeout);
  auto status = admin.status(localUrl());
  if (!status) return std::unexpected(status.error());
  return status->member_id;
}

bool EtcdProcess::removed() const {
  std::lock_guard lock(mu_);
  return removed_;
}

Status EtcdProcess::start() { return startWith(Launch::kNew, ""); }

Status EtcdProcess::startJoining(const std::string& initial_cluster) {
  if (initial_cluster.empty()) return fail(ErrorCode::kInvalid, "etcd: joining needs an --initial-cluster");
  return startWith(Launch::kJoin, initial_cluster);
}

Status EtcdProcess::recover() {
  if (!hasData(opts_.data_dir))
    return fail(ErrorCode::kNotFound, "etcd: nothing to recover: " + opts_.data_dir + " holds no member");
  stop();
  log()->warn("etcd: recovering member {} as a one-member cluster (--force-new-cluster) from {}", opts_.name,
              opts_.data_dir);
  return startWith(Launch::kForceNew, "");
}

Status EtcdProcess::startWith(Launch launch, const std::string& initial_cluster) {
  std::lock_guard control(control_mu_);
  if (supervisor_.joinable()) {
    {
      std::lock_guard lock(mu_);
      if (first_result_) return ok();  // supervising
    }
    supervisor_.join();  // a failed first launch, or a removed member: that thread has ended
  }
  {
    std::lock_guard lock(mu_);
    if (removed_) return std::unexpected(removedError());
  }
  for (auto [value, what] : {std::pair{&opts_.name, "name"}, {&opts_.data_dir, "data_dir"},
                             {&opts_.advertise_host, "advertise_host"}, {&opts_.cert_file, "cert_file"},
                             {&opts_.key_file, "key_file"}, {&opts_.trusted_ca_file, "trusted_ca_file"},
                             {&opts_.log_file, "log_file"}}) {
    if (value->empty()) return fail(ErrorCode::kInvalid, std::string("etcd: option ") + what + " is empty");
  }
  auto binary = findBinary(opts_.binary);
  if (!binary) return std::unexpected(binary.error());
  binary_path_ = *binary;
  std::error_code ec;
  fs::create_directories(fs::path(opts_.log_file).parent_path(), ec);

  std::unique_lock lock(mu_);
  stopping_ = false;
  first_done_ = false;
  // A recovery keeps how the member first started; the flags are ignored with data anyway.
  if (launch != Launch::kForceNew) initial_cluster_ = initial_cluster;
  force_new_ = launch == Launch::kForceNew;
  // The supervisor forks etcd, not this thread: PR_SET_PDEATHSIG is tied to the forking thread,
  // and the caller's thread may end long before etcd should.
  supervisor_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "etcd-supervisor");
    supervise();
  });
  cv_.wait(lock, [&] { return first_done_; });
  Status result = first_result_;
  lock.unlock();
  if (!result) supervisor_.join();
  return result;
}

void EtcdProcess::stop() {
  std::lock_guard control(control_mu_);
  if (!supervisor_.joinable()) return;
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    pid_t pid = pid_;
    if (pid > 0) ::kill(pid, SIGTERM);
    cv_.notify_all();
    if (!cv_.wait_for(lock, opts_.stop_timeout, [&] { return pid_ < 0; })) {
      log()->warn("etcd: pid {} still running {} after SIGTERM; sending SIGKILL", pid_,
                  formatDuration(opts_.stop_timeout));
      if (pid_ > 0) ::kill(pid_, SIGKILL);
    }
  }
  supervisor_.join();
  std::lock_guard lock(mu_);
  stopping_ = false;
  first_result_ = fail(ErrorCode::kUnavailable, "etcd: stopped");
}

Status EtcdProcess::dissolve() {
  stop();
  std::lock_guard control(control_mu_);
  {
    std::lock_guard lock(mu_);
    removed_ = false;  // with its data gone, the member may join a cluster again
  }
  std::error_code ec;
  if (!fs::exists(opts_.data_dir, ec)) return ok();
  // Rename first, then delete: the rename is atomic, so a crash in the middle of the deletion
  // can't leave a half data dir that `hasData` would take for a member.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  std::string moved = opts_.data_dir + ".dissolved-" + std::to_string(ms);
  fs::rename(opts_.data_dir, moved, ec);
  if (ec)
    return fail(ErrorCode::kIo, "etcd: cannot move the data dir " + opts_.data_dir + " to " + moved + ": " + ec.message());
  log()->info("etcd: dissolved member {}: data moved to {}", opts_.name, moved);
  fs::remove_all(moved, ec);
  if (ec) log()->warn("etcd: cannot delete {} ({}); it is out of the way, remove it by hand", moved, ec.message());
  return ok();
}

void EtcdProcess::supervise() {
  Duration backoff = opts_.restart_backoff;
  bool first = true;
  while (true) {
    Status launched = launchUntilHealthy();
    // Before `start()` returns: other nodes must find this member at its current address.
    if (launched) readvertise();
    // A removed member restarted from its data learns again that it was removed, and exits.
    if (!launched && markIfRemoved()) launched = std::unexpected(removedError());
    if (first) {
      std::lock_guard lock(mu_);
      first_done_ = true;
      first_result_ = launched;
      cv_.notify_all();
      if (!launched) return;
      first = false;
    }
    if (launched) {
      auto healthy_since = SteadyClock::now();
      pid_t pid = this->pid();
      log()->info("etcd: member {} serving on {} (pid {})", opts_.name, clientUrl(), pid);
      int status = waitExit(pid);
      uint64_t offset = 0;
      {
        std::lock_guard lock(mu_);
        if (stopping_) {
          log()->info("etcd: stopped (pid {}, {})", pid, describeStatus(status));
          return;
        }
        offset = log_offset_;
      }
      if (markIfRemoved()) return;
      if (SteadyClock::now() - healthy_since >= opts_.backoff_reset) backoff = opts_.restart_backoff;
      log()->error("etcd: pid {} exited unexpectedly ({}); restarting in {}; its log: {}", pid,
                   describeStatus(status), formatDuration(backoff), etcdLogTail(opts_.log_file, offset));
    } else {
      {
        std::lock_guard lock(mu_);
        if (stopping_ || removed_) return;
      }
      log()->error("etcd: restart failed: {}; next try in {}", launched.error().message, formatDuration(backoff));
    }
    if (waitStop(backoff)) return;
    backoff = std::min(backoff * 2, opts_.max_restart_backoff);
    std::lock_guard lock(mu_);
    ++restarts_;
  }
}

Status EtcdProcess::launchUntilHealthy() {
  auto spawned = spawn();
  if (!spawned) return std::unexpected(spawned.error());
  pid_t pid = *spawned;
  uint64_t offset = 0;
  {
    std::lock_guard lock(mu_);
    offset = log_offset_;
  }
  auto deadline = SteadyClock::now() + opts_.start_timeout;
  std::string last_error = "no answer yet";
  while (true) {
    int status = 0;
    if (reapIfExited(pid, &status)) {
      return fail(ErrorCode::kUnavailable, "etcd exited while starting (" + describeStatus(status) +
                                               "); its log " + opts_.log_file + ": " + etcdLogTail(opts_.log_file, offset));
    }
    auto healthy = serving();
    if (healthy) return ok();
    last_error = healthy.error().message;
    if (waitStop(kHealthInterval)) {
      waitExit(pid);  // `stop()` has sent SIGTERM, and sends SIGKILL if that is not enough
      return fail(ErrorCode::kUnavailable, "etcd: stopped while starting");
    }
    if (SteadyClock::now() >= deadline) {
      {
        std::lock_guard lock(mu_);
        if (pid_ > 0) ::kill(pid_, SIGKILL);
      }
      waitExit(pid);
      return fail(ErrorCode::kTimeout,
                  "etcd did not serve " + localUrl() + " within " + formatDuration(opts_.start_timeout) + " (last: " +
                      last_error + "); its log " + opts_.log_file + ": " + etcdLogTail(opts_.log_file, offset),
                  true);
    }
  }
}

Result<pid_t> EtcdProcess::spawn() {
  std::string initial_cluster;
  bool force_new = false;
  {
    std::lock_guard lock(mu_);
    initial_cluster = initial_cluster_;
    force_new = std::exchange(force_new_, false);  // once: later restarts keep the recovered cluster
  }
  std::vector<std::string> args = etcdArgs(opts_, binary_path_, initial_cluster, force_new);
  std::vector<std::string> env = childEnvironment();
  std::vector<char*> argv = pointers(args);
  std::vector<char*> envp = pointers(env);

  int log_fd = ::open(opts_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return fail(ErrorCode::kIo, "etcd: cannot open its log file " + opts_.log_file + ": " + std::strerror(errno));
  std::string banner = "shoal: launching";
  for (const auto& a : args) banner += " " + a;
  banner += "\n";
  [[maybe_unused]] auto written = ::write(log_fd, banner.data(), banner.size());
  struct stat st{};
  ::fstat(log_fd, &st);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return fail(ErrorCode::kIo, std::string("etcd: pipe: ") + std::strerror(errno));
  }
  pid_t parent = ::getpid();
  pid_t pid = -1;
  bool stopping = false;
  {
    // Under `mu_`: `stop()` either sees this pid or has set `stopping_` before we fork.
    std::lock_guard lock(mu_);
    stopping = stopping_;
    if (!stopping) {
      pid = ::fork();
      if (pid == 0) execChild(parent, log_fd, pipe_fds[1], argv[0], argv.data(), envp.data());
      if (pid > 0) {
        pid_ = pid;
        log_offset_ = static_cast<uint64_t>(st.st_size);
      }
    }
  }
  int fork_errno = errno;
  ::close(log_fd);
  ::close(pipe_fds[1]);
  if (pid <= 0) {
    ::close(pipe_fds[0]);
    if (stopping) return fail(ErrorCode::kUnavailable, "etcd: stopped while starting");
    return fail(ErrorCode::kInternal, std::string("etcd: fork: ") + std::strerror(fork_errno));
  }
  // The pipe closes on a successful exec; an errno arrives if exec failed.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(pipe_fds[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(pipe_fds[0]);
  if (n == sizeof exec_errno) {
    waitExit(pid);
    return fail(ErrorCode::kUnavailable, "etcd: exec " + binary_path_ + ": " + std::strerror(exec_errno));
  }
  return pid;
}

int EtcdProcess::waitExit(pid_t pid) {
  // Wait without reaping, then reap under `mu_` together with clearing `pid_`: nobody can signal
  // the number after the kernel has handed it to another process.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  std::lock_guard lock(mu_);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid_ = -1;
  cv_.notify_all();
  return status;
}

bool EtcdProcess::reapIfExited(pid_t pid, int* status) {
  std::lock_guard lock(mu_);
  if (::waitpid(pid, status, WNOHANG) != pid) return false;
  pid_ = -1;
  cv_.notify_all();
  return true;
}

bool EtcdProcess::waitStop(Duration d) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [&] { return stopping_; });
}

Status EtcdProcess::serving() const {
  EtcdKv kv(EtcdKvOptions{{localUrl()}, opts_.cert_file, opts_.key_file, opts_.trusted_ca_file, kHealthCallTimeout});
  auto healthy = kv.health();
  if (healthy) return ok();
  // A learner refuses reads that need the leader ("rpc not supported for learner"); it serves
  // once it has found the leader, which its status shows.
  if (healthy.error().message.find("not supported for learner") == std::string::npos) return healthy;
  EtcdAdmin admin({localUrl()}, EtcdTls{opts_.cert_file, opts_.key_file, opts_.trusted_ca_file}, kHealthCallTimeout);
  auto status = admin.status(localUrl());
  if (!status) return std::unexpected(status.error());
  if (status->leader == 0) return unavailable("etcd " + localUrl() + ": a learner without a leader yet");
  return ok();
}

Error EtcdProcess::removedError() const {
  return Error{ErrorCode::kConflict,
               "etcd: member " + opts_.name + " was removed from its cluster; dissolve " + opts_.data_dir +
                   " before it joins again",
               false};
}

bool EtcdProcess::markIfRemoved() {
  uint64_t offset = 0;
  {
    std::lock_guard lock(mu_);
    offset = log_offset_;
  }
  // etcd 3.4 logs "the member has been permanently removed from the cluster" when it applies its
  // own removal, and again when a restart from its data is refused by the other members.
  std::ifstream in(opts_.log_file, std::ios::binary);
  if (!in) return false;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  bool removed = false;
  while (!removed && std::getline(in, line))
    removed = line.find("permanently removed from the cluster") != std::string::npos;
  if (!removed) return false;
  std::lock_guard lock(mu_);
  removed_ = true;
  first_result_ = std::unexpected(removedError());
  log()->warn("etcd: member {} was removed from its cluster and exited; not restarting it (dissolve its data)",
              opts_.name);
  return true;
}

void EtcdProcess::readvertise() {
  // A learner answers no member calls, and its peer URL is the one it was just added with.
  EtcdAdmin admin({localUrl()}, EtcdTls{opts_.cert_file, opts_.key_file, opts_.trusted_ca_file}, kHealthCallTimeout);
  if (auto status = admin.status(localUrl()); status && status->learner) return;
  EtcdKv kv(EtcdKvOptions{{localUrl()}, opts_.cert_file, opts_.key_file, opts_.trusted_ca_file, kHealthCallTimeout});
  auto changed = kv.readvertise({peerUrl()});
  if (!changed) {
    log()->warn("etcd: cannot check the stored peer URL of {}: {}", opts_.name, changed.error().message);
  } else if (*changed) {
    log()->info("etcd: readvertised member {} at {} (its address changed)", opts_.name, peerUrl());
  }
}

}  // namespace shoal
