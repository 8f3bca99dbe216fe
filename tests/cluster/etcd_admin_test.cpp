// etcd 3.4's membership for real (needs the `etcd` binary: Debian's etcd-server): several
// EtcdProcess members on 127.0.0.1, each with its own ports and data dir, all with certificates
// from one test cluster CA, changed one step at a time through EtcdAdmin: a learner added, joined
// with --initial-cluster-state existing and promoted once caught up; voters removed; members
// killed; a lost quorum recovered with --force-new-cluster. Plus etcd's refusals as shoal errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "cluster/etcd_admin.h"
#include "cluster/etcd_kv.h"
#include "cluster/etcd_process.h"
#include "cluster/identity.h"
#include "tests/cluster/test_pki.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using testing::makeTestCa;
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

// Repeats `call` while it fails retryably, up to `timeout`; the last result.
Status retrying(const std::function<Status()>& call, Duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    Status st = call();
    if (st || !st.error().retryable || std::chrono::steady_clock::now() >= deadline) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
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

bool isVoter(const EtcdMember& m) { return !m.learner && !m.name.empty(); }

// A cluster CA, one node identity from it shared by every member (SAN 127.0.0.1), and members
// "n1", "n2", ... each with its own ports, data dir and log.
class EtcdAdminTest : public ::testing::Test {
 protected:
  struct Member {
    EtcdProcessOptions options;
    std::unique_ptr<EtcdProcess> etcd;
    uint64_t id = 0;
  };

  EtcdAdminTest() : ca_(makeTestCa(dir_.path(), "cluster-ca", "test cluster CA", SystemClock().now())) {
    IdentityOptions o;
    o.dir = dir_.file("identity");
    o.ca_cert_file = ca_.cert_file;
    o.ca_key_file = ca_.key_file;
    o.common_name = "etcd-admin-test";
    o.dns_names = {"localhost"};
    o.ip_addresses = {"127.0.0.1"};
    auto id = ensureIdentity(o, SystemClock());
    if (!id) throw std::runtime_error(id.error().str());
    identity_ = *id;
  }

  // Stops the members at once: one by one, the last of a cluster that lost its quorum took 7 s
  // to stop.
  ~EtcdAdminTest() override {
    std::vector<std::thread> stops;
    for (auto& m : members_) stops.emplace_back([&m] { m.etcd->stop(); });
    for (auto& t : stops) t.join();
  }

  // SIGKILLs the member's etcd: the machine is lost (the long restart backoff keeps it dead). Never
  // passes a pid of -1 on to kill(2), which would signal every process we may signal.
  static void killEtcd(Member& m) {
    pid_t pid = m.etcd->pid();
    ASSERT_GT(pid, 0) << m.options.name << " is not running";
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(waitFor([&] { return !m.etcd->running(); }, Duration(5000)));
  }

  Member& addMember() {
    std::string name = "n" + std::to_string(members_.size() + 1);
    EtcdProcessOptions o;
    o.name = name;
    o.data_dir = dir_.file(name + "-data");
    o.listen_host = "127.0.0.1";
    o.advertise_host = "127.0.0.1";
    o.client_port = freePort();
    o.peer_port = freePort();
    o.cert_file = identity_.cert_file;
    o.key_file = identity_.key_file;
    o.trusted_ca_file = ca_.cert_file;
    o.log_file = dir_.file(name + ".log");
    o.start_timeout = Duration(20000);
    // A killed member stays dead for the test: it is the "lost machine".
    o.restart_backoff = Duration(120000);
    members_.push_back(Member{o, std::make_unique<EtcdProcess>(o), 0});
    return members_.back();
  }

  EtcdTls tls() const { return EtcdTls{identity_.cert_file, identity_.key_file, ca_.cert_file}; }

  EtcdAdmin admin(std::vector<std::string> endpoints) { return EtcdAdmin(std::move(endpoints), tls(), Duration(3000)); }
  EtcdAdmin admin(const Member& m) { return admin(std::vector{m.etcd->localUrl()}); }

  EtcdKv kv(std::vector<std::string> endpoints, Duration timeout = Duration(3000)) {
    return EtcdKv(EtcdKvOptions{std::move(endpoints), identity_.cert_file, identity_.key_file, ca_.cert_file, timeout});
  }
  EtcdKv kv(const Member& m, Duration timeout = Duration(3000)) { return kv(std::vector{m.etcd->localUrl()}, timeout); }

  Member& startFirst() {
    Member& m = addMember();
    auto st = m.etcd->start();
    if (!st) ADD_FAILURE() << st.error().str();
    auto id = m.etcd->memberId();
    if (!id) ADD_FAILURE() << id.error().str();
    m.id = id.value_or(0);
    return m;
  }

  // One step of growth, through `via`: add a learner, start it joining, promote it once it has
  // caught up. The new member, as the leader of the cluster would do it.
  Member& join(const Member& via) {
    Member& m = addMember();
    EtcdAdmin a = admin(via);
    // etcd 3.4 refuses any member add ("unhealthy cluster") until every voter has been connected
    // to it for 5 s, so right after a promotion: retry.
    Result<EtcdMember> added = std::unexpected(Error{});
    auto st0 = retrying(
        [&]() -> Status {
          added = a.addLearner(m.etcd->peerUrl());
          if (!added) return std::unexpected(added.error());
          return ok();
        },
        Duration(20000));
    if (!st0) ADD_FAILURE() << st0.error().str();
    if (!added) return m;
    m.id = added->id;
    EXPECT_TRUE(added->learner);
    EXPECT_TRUE(added->name.empty());
    auto list = a.members();
    if (!list) ADD_FAILURE() << list.error().str();
    auto st = m.etcd->startJoining(initialCluster(list.value_or(std::vector<EtcdMember>{}), m.options.name,
                                                  m.etcd->peerUrl()));
    if (!st) ADD_FAILURE() << st.error().str();
    auto promoted = retrying([&] { return a.promote(m.id); }, Duration(20000));
    if (!promoted) ADD_FAILURE() << promoted.error().str();
    return m;
  }

  std::vector<std::string> endpoints(std::initializer_list<const Member*> ms) {
    std::vector<std::string> out;
    for (const Member* m : ms) out.push_back(m->etcd->localUrl());
    return out;
  }

  TempDir dir_;
  TestCert ca_;
  Identity identity_;
  std::deque<Member> members_;  // a deque: references handed out stay valid as it grows
};

TEST_F(EtcdAdminTest, GrowsFromOneToThreeVotersOneLearnerAtATime) {
  Member& n1 = startFirst();
  EtcdKv first = kv(n1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(first.put("/before/" + std::to_string(i), "v" + std::to_string(i)));

  Member& n2 = join(n1);
  Member& n3 = join(n2);  // through the newest member: any voter answers membership calls

  auto list = admin(endpoints({&n1, &n2, &n3})).members();
  ASSERT_TRUE(list) << list.error().str();
  ASSERT_EQ(list->size(), 3u);
  for (const auto& m : *list) {
    EXPECT_TRUE(isVoter(m)) << m.id;
    EXPECT_EQ(m.client_urls.size(), 1u);
  }
  // Every key written to the one-member cluster is read (linearizably) through the newest member.
  EtcdKv third = kv(n3);
  auto keys = third.list("/before/");
  ASSERT_TRUE(keys) << keys.error().str();
  EXPECT_EQ(keys->size(), 20u);
  ASSERT_TRUE(third.put("/after", "x"));
  auto after = first.get("/after");
  ASSERT_TRUE(after && *after);

  auto id = n3.etcd->memberId();
  ASSERT_TRUE(id) << id.error().str();
  EXPECT_EQ(*id, n3.id);
  auto status = admin(n1).status(n3.etcd->localUrl());
  ASSERT_TRUE(status) << status.error().str();
  EXPECT_FALSE(status->learner);
  EXPECT_NE(status->leader, 0u);
  EXPECT_GT(status->raft_index, 0);
}

TEST_F(EtcdAdminTest, RefusalsMapToShoalErrors) {
  Member& n1 = startFirst();
  EtcdAdmin a = admin(n1);
  Member& absent = addMember();  // never started: its learner can't catch up
  auto learner = a.addLearner(absent.etcd->peerUrl());
  ASSERT_TRUE(learner) << learner.error().str();

  // A learner that is not running: refused at once, retryably, not held.
  auto promote = a.promote(learner->id);
  ASSERT_FALSE(promote);
  EXPECT_EQ(promote.error().code, ErrorCode::kUnavailable) << promote.error().str();
  EXPECT_TRUE(promote.error().retryable);
  EXPECT_NE(promote.error().message.find("in sync with leader"), std::string::npos) << promote.error().str();

  // The same peer URL again (etcd says "member ID already exist" within the same second, "Peer
  // URLs already exists" after it), and a voter's URL.
  for (const std::string& url : {absent.etcd->peerUrl(), n1.etcd->peerUrl()}) {
    auto again = a.addLearner(url);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kConflict) << again.error().str();
  }
  // etcd 3.4 allows one learner at a time.
  auto second = a.addLearner("https://127.0.0.1:1");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable) << second.error().str();
  EXPECT_TRUE(second.error().retryable);

  auto voter = a.promote(n1.id);
  ASSERT_FALSE(voter);
  EXPECT_EQ(voter.error().code, ErrorCode::kInvalid) << voter.error().str();

  auto unknown = a.remove(12345);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound) << unknown.error().str();
  EXPECT_EQ(a.promote(12345).error().code, ErrorCode::kNotFound);

  // A learner is removed without any quorum check.
  ASSERT_TRUE(a.remove(learner->id));
  auto list = a.members();
  ASSERT_TRUE(list) << list.error().str();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().id, n1.id);

  // An unreachable endpoint is named; the next one answers.
  std::string dead = "https://127.0.0.1:" + std::to_string(freePort());
  auto unreachable = admin(std::vector{dead}).members();
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(unreachable.error().message.find(dead), std::string::npos) << unreachable.error().str();
  auto failover = admin(std::vector{dead, n1.etcd->localUrl()}).members();
  ASSERT_TRUE(failover) << failover.error().str();
  auto status = admin(n1).status(dead);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find(dead), std::string::npos) << status.error().str();
}

TEST_F(EtcdAdminTest, RemovedVotersStopThemselvesAndTheRestServe) {
  Member& n1 = startFirst();
  Member& n2 = join(n1);
  Member& n3 = join(n1);
  EtcdAdmin a = admin(endpoints({&n1, &n2}));
  // etcd refuses to remove a voter ("unhealthy cluster") until the remaining quorum has been
  // connected for 5 s: retry.
  auto removed = retrying([&] { return a.remove(n3.id); }, Duration(20000));
  ASSERT_TRUE(removed) << removed.error().str();
  // n3 applies its own removal and exits; it is not restarted.
  ASSERT_TRUE(waitFor([&] { return n3.etcd->removed() && !n3.etcd->running(); }, Duration(10000)));
  auto again = n3.etcd->start();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict) << again.error().str();
  {
    // A new process (the node restarted) launched from the removed member's data: the others
    // refuse it, it exits, and the start says why.
    EtcdProcess restarted(n3.options);
    auto st = restarted.start();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, ErrorCode::kConflict) << st.error().str();
    EXPECT_TRUE(restarted.removed());
  }
  ASSERT_TRUE(n3.etcd->dissolve());
  EXPECT_FALSE(fs::exists(n3.options.data_dir));
  EXPECT_FALSE(n3.etcd->removed());

  EtcdKv rest = kv(endpoints({&n1, &n2}));
  ASSERT_TRUE(rest.put("/two", "x"));
  auto list = a.members();
  ASSERT_TRUE(list) << list.error().str();
  EXPECT_EQ(list->size(), 2u);

  // 2 -> 1.
  removed = retrying([&] { return a.remove(n2.id); }, Duration(20000));
  ASSERT_TRUE(removed) << removed.error().str();
  ASSERT_TRUE(waitFor([&] { return n2.etcd->removed(); }, Duration(10000)));
  ASSERT_TRUE(n2.etcd->dissolve());
  EtcdKv last = kv(n1);
  ASSERT_TRUE(last.put("/one", "x"));
  auto two = last.get("/two");
  ASSERT_TRUE(two && *two);
  list = admin(n1).members();
  ASSERT_TRUE(list) << list.error().str();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().id, n1.id);
}

TEST_F(EtcdAdminTest, OneOfThreeKilledTheOthersServeAndItIsRemoved) {
  Member& n1 = startFirst();
  Member& n2 = join(n1);
  Member& n3 = join(n1);
  ASSERT_NO_FATAL_FAILURE(killEtcd(n3));

  EtcdKv rest = kv(endpoints({&n1, &n2}));
  auto put = retrying([&] { return rest.put("/survives", "x"); }, Duration(10000));
  ASSERT_TRUE(put) << put.error().str();

  EtcdAdmin a = admin(endpoints({&n1, &n2}));
  auto removed = retrying([&] { return a.remove(n3.id); }, Duration(20000));
  ASSERT_TRUE(removed) << removed.error().str();
  auto list = a.members();
  ASSERT_TRUE(list) << list.error().str();
  EXPECT_EQ(list->size(), 2u);
  ASSERT_TRUE(n3.etcd->dissolve());
  ASSERT_TRUE(rest.put("/after-remove", "x"));
}

TEST_F(EtcdAdminTest, TwoOfThreeKilledThenTheSurvivorRecoversEveryKey) {
  Member& n1 = startFirst();
  Member& n2 = join(n1);
  Member& n3 = join(n1);
  EtcdKv all = kv(endpoints({&n1, &n2, &n3}));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(all.put("/k/" + std::to_string(i), std::to_string(i)));
  ASSERT_NO_FATAL_FAILURE(killEtcd(n2));
  ASSERT_NO_FATAL_FAILURE(killEtcd(n3));

  // No quorum: a write fails within the client's timeout instead of hanging.
  EtcdKv survivor = kv(n1, Duration(2000));
  auto put = survivor.put("/lost", "x");
  ASSERT_FALSE(put);
  EXPECT_TRUE(put.error().code == ErrorCode::kUnavailable || put.error().code == ErrorCode::kTimeout)
      << put.error().str();
  // Its status still answers: the raft index is what a leader compares survivors by.
  EtcdAdmin a = admin(n1);
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = a.status(n1.etcd->localUrl());
        return s && s->leader == 0 && s->raft_index > 0;
      },
      Duration(10000)));

  auto recovered = n1.etcd->recover();
  ASSERT_TRUE(recovered) << recovered.error().str();
  auto list = a.members();
  ASSERT_TRUE(list) << list.error().str();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().id, n1.id);
  auto keys = survivor.list("/k/");
  ASSERT_TRUE(keys) << keys.error().str();
  EXPECT_EQ(keys->size(), 50u);
  ASSERT_TRUE(survivor.put("/after", "x"));
  auto status = a.status(n1.etcd->localUrl());
  ASSERT_TRUE(status) << status.error().str();
  EXPECT_EQ(status->leader, n1.id);

  // Supervision goes on without --force-new-cluster: a restart keeps the one-member cluster.
  ASSERT_NO_FATAL_FAILURE(killEtcd(n1));
  n1.etcd->stop();
  ASSERT_TRUE(n1.etcd->start());
  list = a.members();
  ASSERT_TRUE(list) << list.error().str();
  EXPECT_EQ(list->size(), 1u);
  for (Member* m : {&n2, &n3}) ASSERT_TRUE(m->etcd->dissolve());
}

TEST(InitialClusterTest, ListsNamedMembersAndTheJoiningLearnerByItsName) {
  std::vector<EtcdMember> members{
      {1, "n1", {"https://10.0.0.1:2380"}, {"https://10.0.0.1:2379"}, false},
      {2, "n2", {"https://10.0.0.2:2380", "https://10.1.0.2:2380"}, {"https://10.0.0.2:2379"}, false},
      {3, "", {"https://10.0.0.3:2380"}, {}, true},
  };
  EXPECT_EQ(initialCluster(members, "n3", "https://10.0.0.3:2380"),
            "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n2=https://10.1.0.2:2380,n3=https://10.0.0.3:2380");
  // Another member that has not started keeps its place with an empty name: etcd 3.4 refuses a
  // joining member whose --initial-cluster counts fewer members than the cluster has.
  members.push_back({4, "", {"https://10.0.0.4:2380"}, {}, false});
  EXPECT_EQ(initialCluster(members, "n3", "https://10.0.0.3:2380"),
            "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n2=https://10.1.0.2:2380,n3=https://10.0.0.3:2380,"
            "=https://10.0.0.4:2380");
}

TEST(EtcdAdminJsonTest, IdsAsStringsOrNumbersAndAStatusWithoutLeader) {
  auto list = etcd::parseMembers(
      R"({"header":{},"members":[{"ID":"16574051346962479243","peerURLs":["https://a:2380"],"isLearner":true},)"
      R"({"ID":12,"name":"n1","peerURLs":["https://b:2380"],"clientURLs":["https://b:2379"]}]})");
  ASSERT_TRUE(list) << list.error().str();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, 16574051346962479243ULL);
  EXPECT_TRUE((*list)[0].learner);
  EXPECT_EQ((*list)[1].id, 12u);
  EXPECT_EQ((*list)[1].name, "n1");
  // A member without quorum: no "leader", an "errors" list.
  auto status = etcd::parseStatus(
      R"({"header":{"member_id":"8543087242056840113","revision":"2"},"version":"3.4.23","raftIndex":"20",)"
      R"("raftTerm":"2","errors":["etcdserver: no leader"]})");
  ASSERT_TRUE(status) << status.error().str();
  EXPECT_EQ(status->member_id, 8543087242056840113ULL);
  EXPECT_EQ(status->leader, 0u);
  EXPECT_EQ(status->raft_index, 20);
  EXPECT_FALSE(etcd::parseMembers(R"({"members":[{"ID":"x1"}]})"));
  auto promote = etcd::adminError("etcdserver: can only promote a learner member which is in sync with leader", 9, "w");
  EXPECT_EQ(promote.code, ErrorCode::kUnavailable);
  EXPECT_TRUE(promote.retryable);
  EXPECT_EQ(etcd::adminError("etcdserver: can only promote a learner member", 9, "w").code, ErrorCode::kInvalid);
}

}  // namespace
}  // namespace shoal
