// etcd 3.4 for real (needs the `etcd` binary: Debian's etcd-server), on 127.0.0.1 with free ports
// and certificates from a test cluster CA: the KvStore contract against EtcdKv, real lease expiry,
// mutual TLS refusals, and EtcdProcess's supervision (restart after kill -9, stop/start, dissolve,
// start failures, dying with its parent, readvertising a new address).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "cluster/etcd_kv.h"
#include "cluster/etcd_process.h"
#include "cluster/identity.h"
#include "tests/cluster/kv_contract.h"
#include "tests/cluster/test_pki.h"

extern char** environ;

namespace shoal {
namespace {

namespace fs = std::filesystem;
using testing::makeTestCa;
using testing::makeTestLeaf;
using testing::TempDir;
using testing::TestCert;

bool waitFor(const std::function<bool()>& condition, Duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A gone process, or a zombie nobody has reaped yet (it no longer runs either way).
bool processGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

// A cluster CA, a node identity from it (EKUs serverAuth+clientAuth, SANs localhost and
// 127.0.0.1, made by the production code) and ports for one etcd.
class Sandbox {
 public:
  Sandbox() : ca_(makeTestCa(dir_.path(), "cluster-ca", "test cluster CA", SystemClock().now())) {
    IdentityOptions o;
    o.dir = dir_.file("identity");
    o.ca_cert_file = ca_.cert_file;
    o.ca_key_file = ca_.key_file;
    o.common_name = "etcd-test";
    o.dns_names = {"localhost"};
    o.ip_addresses = {"127.0.0.1"};
    auto id = ensureIdentity(o, SystemClock());
    if (!id) throw std::runtime_error(id.error().str());
    identity_ = *id;
  }

  EtcdProcessOptions process() const {
    EtcdProcessOptions o;
    o.name = "n1";
    o.data_dir = dir_.file("etcd-data");
    o.listen_host = "127.0.0.1";
    o.advertise_host = "127.0.0.1";
    o.client_port = client_port_;
    o.peer_port = peer_port_;
    o.cert_file = identity_.cert_file;
    o.key_file = identity_.key_file;
    o.trusted_ca_file = ca_.cert_file;
    o.log_file = dir_.file("etcd.log");
    o.start_timeout = Duration(30000);
    return o;
  }

  EtcdKvOptions client() const {
    return EtcdKvOptions{{endpoint()}, identity_.cert_file, identity_.key_file, ca_.cert_file, Duration(5000)};
  }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(client_port_); }
  const TempDir& dir() const { return dir_; }
  const TestCert& ca() const { return ca_; }
  std::string log() const { return readAll(dir_.file("etcd.log")); }

 private:
  TempDir dir_;
  TestCert ca_;
  Identity identity_;
  int client_port_ = freePort();
  int peer_port_ = freePort();
};

// One etcd for a whole suite.
struct SharedEtcd {
  static void up() {
    sandbox = std::make_unique<Sandbox>();
    etcd = std::make_unique<EtcdProcess>(sandbox->process());
    auto st = etcd->start();
    ASSERT_TRUE(st) << st.error().str();
  }
  static void down() {
    etcd.reset();
    sandbox.reset();
  }
  static inline std::unique_ptr<Sandbox> sandbox;
  static inline std::unique_ptr<EtcdProcess> etcd;
};

struct EtcdEnv {
  static void setUpSuite() { SharedEtcd::up(); }
  static void tearDownSuite() { SharedEtcd::down(); }
  KvStore& kv() { return one; }
  KvStore& other() { return two; }
  std::string root() const { return prefix; }

  EtcdKv one{SharedEtcd::sandbox->client()};
  EtcdKv two{SharedEtcd::sandbox->client()};
  std::string prefix = uniqueKvRoot();
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Etcd, KvContract, EtcdEnv);

namespace {

class EtcdKvTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SharedEtcd::up(); }
  static void TearDownTestSuite() { SharedEtcd::down(); }
  static Sandbox& sandbox() { return *SharedEtcd::sandbox; }

  EtcdKv kv_{sandbox().client()};
  std::string root_ = uniqueKvRoot();
};

TEST_F(EtcdKvTest, LeaseExpiresWithoutKeepAlive) {
  auto lease = kv_.grantLease(Duration(1000));  // etcd makes it its minimum, 2 s
  ASSERT_TRUE(lease) << lease.error().str();
  ASSERT_TRUE(kv_.put(root_ + "leased", "x", *lease));
  ASSERT_TRUE(kv_.put(root_ + "kept", "x"));
  EXPECT_TRUE(waitFor(
      [&] {
        auto got = kv_.get(root_ + "leased");
        return got && !got->has_value();
      },
      Duration(30000)));
  auto renewed = kv_.keepAlive(*lease);
  ASSERT_FALSE(renewed);
  EXPECT_EQ(renewed.error().code, ErrorCode::kNotFound) << renewed.error().str();
  auto kept = kv_.get(root_ + "kept");
  ASSERT_TRUE(kept && *kept);
}

TEST_F(EtcdKvTest, KeepAliveHoldsALeasePastItsTtl) {
  auto lease = kv_.grantLease(Duration(2000));
  ASSERT_TRUE(lease) << lease.error().str();
  ASSERT_TRUE(kv_.put(root_ + "held", "x", *lease));
  // Renew every 500 ms for three TTLs: the key must stay throughout.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < until) {
    auto st = kv_.keepAlive(*lease);
    ASSERT_TRUE(st) << st.error().str();
    auto got = kv_.get(root_ + "held");
    ASSERT_TRUE(got && *got);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(kv_.revokeLease(*lease));
}

TEST_F(EtcdKvTest, ClientWithACertificateFromAnotherCaIsRefused) {
  TempDir other;
  TestCert other_ca = makeTestCa(other.path(), "other-ca", "another cluster CA", SystemClock().now());
  TestCert stranger = makeTestLeaf(other.path(), "stranger", "stranger", other_ca, "serverAuth,clientAuth",
                                   SystemClock().now());
  EtcdKvOptions o = sandbox().client();
  o.cert_file = stranger.cert_file;
  o.key_file = stranger.key_file;
  EtcdKv kv(o);
  auto got = kv.get(root_ + "x");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().str();
  EXPECT_NE(got.error().message.find("TLS"), std::string::npos) << got.error().str();
  EXPECT_TRUE(got.error().message.starts_with("etcd " + sandbox().endpoint() + ": ")) << got.error().str();
}

TEST_F(EtcdKvTest, ServerFromAnotherCaIsNotTrusted) {
  TempDir other;
  TestCert other_ca = makeTestCa(other.path(), "other-ca", "another cluster CA", SystemClock().now());
  EtcdKvOptions o = sandbox().client();
  o.ca_file = other_ca.cert_file;
  EtcdKv kv(o);
  auto st = kv.put(root_ + "x", "y");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable) << st.error().str();
  EXPECT_NE(st.error().message.find("TLS"), std::string::npos) << st.error().str();
  auto got = kv_.get(root_ + "x");
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
}

TEST_F(EtcdKvTest, AnUnreachableEndpointIsNamed) {
  std::string dead = "https://127.0.0.1:" + std::to_string(freePort());
  EtcdKvOptions o = sandbox().client();
  o.endpoints = {dead};
  EtcdKv kv(o);
  auto st = kv.health();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable) << st.error().str();
  EXPECT_TRUE(st.error().retryable);
  EXPECT_TRUE(st.error().message.starts_with("etcd " + dead + ": ")) << st.error().str();
}

TEST_F(EtcdKvTest, FailsOverToTheNextEndpointAndEndpointsCanBeReplaced) {
  std::string dead = "https://127.0.0.1:" + std::to_string(freePort());
  EtcdKvOptions o = sandbox().client();
  o.endpoints = {dead, sandbox().endpoint()};
  EtcdKv kv(o);
  ASSERT_TRUE(kv.put(root_ + "a", "1"));
  ASSERT_TRUE(kv.put(root_ + "b", "2"));
  kv.setEndpoints({dead});
  auto down = kv.get(root_ + "a");
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().message.find(dead), std::string::npos) << down.error().str();
  kv.setEndpoints({sandbox().endpoint()});
  EXPECT_EQ(kv.endpoints(), std::vector<std::string>{sandbox().endpoint()});
  auto up = kv.get(root_ + "a");
  ASSERT_TRUE(up && *up) << (up ? "absent" : up.error().str());
}

TEST_F(EtcdKvTest, ConcurrentPutIfAbsentFromManyThreadsHasOneWinnerPerKey) {
  std::atomic<int> winners{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 10; ++k) {
        auto r = kv_.putIfAbsent(root_ + "race/" + std::to_string(k), "v");
        if (!r) ++errors;
        if (r && *r) ++winners;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(winners.load(), 10);
}

TEST_F(EtcdKvTest, ReadvertiseLeavesAMatchingPeerUrlAlone) {
  auto changed = kv_.readvertise({"https://127.0.0.1:" + std::to_string(SharedEtcd::sandbox->process().peer_port)});
  ASSERT_TRUE(changed) << changed.error().str();
  EXPECT_FALSE(*changed);
}

class EtcdProcessTest : public ::testing::Test {
 protected:
  bool has(EtcdKv& kv, const std::string& key) {
    auto got = kv.get(key);
    return got && got->has_value();
  }

  Sandbox sandbox_;
};

TEST_F(EtcdProcessTest, RestartsAfterKill9WithItsData) {
  EtcdProcess etcd(sandbox_.process());
  ASSERT_TRUE(etcd.start());
  EtcdKv kv(sandbox_.client());
  ASSERT_TRUE(kv.put("/kept", "x"));
  pid_t first = etcd.pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return etcd.restarts() == 1 && etcd.pid() > 0 && etcd.pid() != first && kv.health(); },
                      Duration(30000)))
      << sandbox_.log();
  EXPECT_TRUE(has(kv, "/kept"));
  EXPECT_EQ(etcd.restarts(), 1);
}

TEST_F(EtcdProcessTest, StopThenStartFromTheExistingData) {
  EtcdProcess etcd(sandbox_.process());
  EXPECT_FALSE(EtcdProcess::hasData(sandbox_.process().data_dir));
  ASSERT_TRUE(etcd.start());
  EXPECT_TRUE(etcd.start());  // already running: ok
  EtcdKv kv(sandbox_.client());
  ASSERT_TRUE(kv.put("/kept", "x"));
  etcd.stop();
  EXPECT_FALSE(etcd.running());
  EXPECT_EQ(etcd.pid(), -1);
  EXPECT_FALSE(kv.health());
  etcd.stop();  // idempotent
  EXPECT_TRUE(EtcdProcess::hasData(sandbox_.process().data_dir));
  auto again = etcd.start();
  ASSERT_TRUE(again) << again.error().str();
  EXPECT_TRUE(has(kv, "/kept"));
  EXPECT_EQ(etcd.restarts(), 0);
}

TEST_F(EtcdProcessTest, DissolveMovesTheDataAway) {
  EtcdProcess etcd(sandbox_.process());
  ASSERT_TRUE(etcd.start());
  EtcdKv kv(sandbox_.client());
  ASSERT_TRUE(kv.put("/old", "x"));
  auto st = etcd.dissolve();
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_FALSE(etcd.running());
  EXPECT_FALSE(EtcdProcess::hasData(sandbox_.process().data_dir));
  for (const auto& entry : fs::directory_iterator(sandbox_.dir().path()))
    EXPECT_EQ(entry.path().filename().string().find("dissolved"), std::string::npos) << entry.path();
  ASSERT_TRUE(etcd.start());  // a new member from nothing
  EXPECT_FALSE(has(kv, "/old"));
}

TEST_F(EtcdProcessTest, AMissingBinaryIsAClearError) {
  EtcdProcessOptions o = sandbox_.process();
  o.binary = "etcd-not-installed";
  EtcdProcess etcd(o);
  auto st = etcd.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_NE(st.error().message.find("etcd-not-installed"), std::string::npos) << st.error().str();
  EXPECT_NE(st.error().message.find("PATH"), std::string::npos) << st.error().str();
  o.binary = sandbox_.dir().file("no/such/etcd");
  auto by_path = EtcdProcess(o).start();
  ASSERT_FALSE(by_path);
  EXPECT_NE(by_path.error().message.find(o.binary), std::string::npos) << by_path.error().str();
}

TEST_F(EtcdProcessTest, APortInUseFailsTheStartWithEtcdsLog) {
  EtcdProcessOptions o = sandbox_.process();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(o.client_port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  o.start_timeout = Duration(120000);  // etcd exits on its own long before this
  EtcdProcess etcd(o);
  auto st = etcd.start();
  ::close(fd);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable) << st.error().str();
  EXPECT_NE(st.error().message.find("exited while starting"), std::string::npos) << st.error().str();
  EXPECT_NE(st.error().message.find("address already in use"), std::string::npos) << st.error().str();
  EXPECT_FALSE(etcd.running());
}

TEST_F(EtcdProcessTest, AStartThatNeverServesTimesOutAndKillsEtcd) {
  // A certificate without EKU clientAuth: etcd starts, but neither its own gateway nor this node's
  // client can use the v3 API with it.
  TestCert server_only = makeTestLeaf(sandbox_.dir().path(), "server-only", "server-only", sandbox_.ca(),
                                      "serverAuth", SystemClock().now());
  EtcdProcessOptions o = sandbox_.process();
  o.cert_file = server_only.cert_file;
  o.key_file = server_only.key_file;
  o.start_timeout = Duration(3000);
  EtcdProcess etcd(o);
  auto st = etcd.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kTimeout) << st.error().str();
  EXPECT_NE(st.error().message.find("did not serve https://127.0.0.1:"), std::string::npos) << st.error().str();
  EXPECT_NE(st.error().message.find("its log " + o.log_file), std::string::npos) << st.error().str();
  EXPECT_EQ(etcd.pid(), -1);
  EXPECT_FALSE(etcd.running());
}

TEST_F(EtcdProcessTest, StopReachesEtcdEvenWhenTheParentBlocksSigterm) {
  // The node blocks SIGTERM for sigwait; a child inherits that mask unless it is cleared.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  EtcdProcessOptions o = sandbox_.process();
  o.stop_timeout = Duration(60000);  // a SIGKILL would leave no "shutting down" line
  EtcdProcess etcd(o);
  auto st = etcd.start();
  if (st) etcd.stop();
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(st) << st.error().str();
  EXPECT_NE(sandbox_.log().find("received signal; shutting down"), std::string::npos) << sandbox_.log();
}

TEST_F(EtcdProcessTest, ReadvertisesANewAddressAfterARestart) {
  {
    EtcdProcess etcd(sandbox_.process());
    ASSERT_TRUE(etcd.start());
  }
  // The same member comes back reachable at another address ("localhost" stands in for the
  // container's new IP: this test talks to 127.0.0.1 only).
  EtcdProcessOptions moved = sandbox_.process();
  moved.advertise_host = "localhost";
  EtcdProcess etcd(moved);
  auto st = etcd.start();
  ASSERT_TRUE(st) << st.error().str();
  EtcdKv kv(sandbox_.client());
  auto changed = kv.readvertise({etcd.peerUrl()});
  ASSERT_TRUE(changed) << changed.error().str() << "\n" << sandbox_.log();
  EXPECT_FALSE(*changed) << "the peer URL should already be " << etcd.peerUrl();
  EXPECT_EQ(etcd.peerUrl(), "https://localhost:" + std::to_string(moved.peer_port));
}

TEST_F(EtcdProcessTest, EtcdDiesWithItsParent) {
  EtcdProcessOptions o = sandbox_.process();
  std::string pid_file = sandbox_.dir().file("etcd.pid");
  std::vector<std::string> args = {SHOAL_ETCD_OWNER, o.name, o.data_dir, std::to_string(o.client_port),
                                   std::to_string(o.peer_port), o.cert_file, o.key_file, o.trusted_ca_file,
                                   o.log_file, pid_file};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t owner = -1;
  ASSERT_EQ(::posix_spawn(&owner, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  bool started = waitFor([&] { return fs::exists(pid_file); }, Duration(30000));
  if (!started) {
    ::kill(owner, SIGKILL);
    ::waitpid(owner, nullptr, 0);
  }
  ASSERT_TRUE(started) << sandbox_.log();
  pid_t etcd = std::stoi(readAll(pid_file));
  ASSERT_GT(etcd, 0);
  EXPECT_FALSE(processGone(etcd));

  ASSERT_EQ(::kill(owner, SIGKILL), 0);
  ::waitpid(owner, nullptr, 0);
  EXPECT_TRUE(waitFor([&] { return processGone(etcd); }, Duration(30000))) << "etcd pid " << etcd << " outlived its parent";
  if (!processGone(etcd)) ::kill(etcd, SIGKILL);
  // A parent killed hard takes etcd down hard: a graceful stop would keep a dead node's vote
  // answering while etcd hands its leadership over.
  EXPECT_EQ(readAll(o.log_file).find("received signal; shutting down"), std::string::npos) << readAll(o.log_file);
}

}  // namespace
}  // namespace shoal
