// `EtcdProcess`: etcd 3.4 as a supervised child process with mutual TLS on its client and peer ports
// (both trust only the cluster CA): a new one-member cluster (`start()`), a member joining an
// existing cluster (`startJoining()`), or the survivor of a lost quorum (`recover()`). See
// doc/etcd.md.
//
// The first launch returns once etcd answers the v3 API (a learner: once it knows a leader). A supervisor thread
// ("etcd-supervisor") then waits on the child: an unexpected exit is logged with its status and the
// last lines of etcd's log, and etcd is restarted from its data dir after a backoff (0.5 s doubling
// to 10 s; back to 0.5 s after 60 s healthy). After each healthy launch its stored peer URL is made
// https://ADVERTISE:PEER_PORT if it differs (the container came back with a new IP).
//
// The child gets SIGTERM when the supervisor thread ends (PR_SET_PDEATHSIG), so it never outlives
// this process, even one killed by SIGKILL. Supervision runs in real time (it waits on a real
// process), so it reads std::chrono::steady_clock rather than an injected `Clock`.
//
// `start`, `stop` and `dissolve` are for one controlling thread; the accessors are safe from any.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

struct EtcdProcessOptions {
  std::string binary = "etcd";  // a path, or a name looked up in PATH
  std::string name;             // the member name
  std::string data_dir;
  std::string listen_host = "0.0.0.0";  // client and peer ports listen here (and on 127.0.0.1)
  std::string advertise_host;           // the IP other nodes reach this one at
  int client_port = 2379;
  int peer_port = 2380;
  std::string cert_file;        // node certificate: EKUs serverAuth+clientAuth, SANs for 127.0.0.1
  std::string key_file;
  std::string trusted_ca_file;  // the cluster CA
  std::string log_file;         // etcd's stdout and stderr are appended here (outside data_dir)
  Duration start_timeout{15000};
  Duration stop_timeout{10000};       // SIGTERM, then SIGKILL after this
  Duration restart_backoff{500};      // first restart delay; doubles
  Duration max_restart_backoff{10000};
  Duration backoff_reset{60000};      // healthy this long: the next restart is quick again
};

class EtcdProcess {
 public:
  explicit EtcdProcess(EtcdProcessOptions options);
  ~EtcdProcess();  // stop()
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Launches etcd (a new one-member cluster, or the member in `data_dir`) and waits until it
  // serves the v3 API, up to `start_timeout`. On failure the child is killed and the error holds
  // the last lines of its log. Ok at once if already running. kConflict after `removed()`.
  Status start();
  // As `start()`, but a new member joins the existing cluster `initial_cluster` (etcd's
  // --initial-cluster, from `initialCluster()` in hub_admin.h, --initial-cluster-state existing).
  // It must have been added first (`HubAdmin::addLearner(peerUrl())`) and `data_dir` must be
  // empty: etcd ignores both flags when it holds a member, which then starts from its data as
  // always. Later restarts come from the data dir.
  Status startJoining(const std::string& initial_cluster);
  // After a lost quorum, on the most up-to-date survivor: stop(), then one launch with
  // --force-new-cluster from `data_dir`: a one-member cluster with every key this member had,
  // under the same member id. Supervised restarts after that run without the flag. The other
  // members' data must be dissolved before they rejoin as new learners.
  Status recover();
  // SIGTERM, up to `stop_timeout`, then SIGKILL; the data stays. Idempotent.
  void stop();
  // stop(), then the data dir is renamed to `<data_dir>.dissolved-<unix ms>` (atomic: a crash
  // can't leave half a data dir that looks like a member) and deleted.
  Status dissolve();

  // Whether `data_dir` holds a previous etcd member (`data_dir/member` exists).
  static bool hasData(const std::string& data_dir);

  // This member's id, from `/v3/maintenance/status` on `localUrl()` (answered without quorum).
  Result<uint64_t> memberId() const;
  // etcd exited saying this member was removed from the cluster: it is not restarted (it would
  // exit again), `start()` refuses, and `dissolve()` clears this with the data.
  bool removed() const;

  bool running() const;
  pid_t pid() const;      // -1 when no child
  int restarts() const;   // relaunches after unexpected exits since construction
  std::string clientUrl() const;  // https://ADVERTISE:CLIENT_PORT, for the other nodes
  std::string localUrl() const;   // https://127.0.0.1:CLIENT_PORT, for this node
  std::string peerUrl() const;    // https://ADVERTISE:PEER_PORT

 private:
  enum class Launch { kNew, kJoin, kForceNew };
  Status startWith(Launch launch, const std::string& initial_cluster);
  void supervise();
  Status launchUntilHealthy();
  Status serving() const;
  // Whether etcd's log since the current launch says this member was removed; if so marks it.
  bool markIfRemoved();
  Error removedError() const;
  Result<pid_t> spawn();
  int waitExit(pid_t pid);
  bool reapIfExited(pid_t pid, int* status);
  bool waitStop(Duration d);
  void readvertise();

  const EtcdProcessOptions opts_;
  std::string binary_path_;  // resolved by start()

  std::mutex control_mu_;  // serializes start/stop/dissolve
  std::thread supervisor_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  pid_t pid_ = -1;             // GUARDED_BY(mu_); -1 once reaped (never signal a reaped pid)
  bool stopping_ = false;      // GUARDED_BY(mu_)
  int restarts_ = 0;           // GUARDED_BY(mu_)
  bool first_done_ = false;    // GUARDED_BY(mu_): the first launch has a result
  Status first_result_;        // GUARDED_BY(mu_)
  uint64_t log_offset_ = 0;    // GUARDED_BY(mu_): log size when the current child was launched
  std::string initial_cluster_;  // GUARDED_BY(mu_): --initial-cluster; empty: NAME=PEER, state new
  bool force_new_ = false;     // GUARDED_BY(mu_): the next launch adds --force-new-cluster (once)
  bool removed_ = false;       // GUARDED_BY(mu_): etcd said this member was removed
};

}  // namespace shoal
