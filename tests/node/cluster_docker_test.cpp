// End to end: node containers from the real node image (scripts/build-image) on Docker networks
// this test creates, finding each other through Docker's DNS (`--network-alias shoal`). Five
// started together form one cluster and a sixth joins; docker stop leaves at once (exit 0), docker
// kill is noticed when the lease expires; a member and the origin come back with new IPs and stay
// what they were; a partition (iptables) makes two clusters that merge when it heals.
// The nodes use the simulated container runtime: what is under test here is the cluster.
#include <gtest/gtest.h>

#include <memory>

#include "tests/harness/node_containers.h"

namespace shoal::testing {
namespace {

using std::chrono::seconds;

class ClusterDockerTest : public ::testing::Test {
 protected:
  // A short lease, so that a killed node is dropped within the test's patience.
  static void SetUpTestSuite() { nodes_ = std::make_unique<NodeContainers>(simulatedNodeYaml("4s")); }
  static void TearDownTestSuite() { nodes_.reset(); }
  void SetUp() override { ASSERT_TRUE(nodes_->built()) << nodes_->buildResult().output; }

  static std::string dump(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += "==== " + n + "\n" + nodes_->logs(n);
    return out;
  }
  static std::string name(const std::string& test, int i) { return test + "-" + std::to_string(i) + "-" + uniqueName(); }

  static inline std::unique_ptr<NodeContainers> nodes_;
};

TEST_F(ClusterDockerTest, FiveStartedTogetherFormOneClusterASixthJoinsStopLeavesKillExpires) {
  std::string net = nodes_->network("form");
  ASSERT_FALSE(net.empty());
  std::vector<std::string> names;
  for (int i = 0; i < 5; ++i) names.push_back(name("form", i));
  for (const auto& n : names) ASSERT_TRUE(nodes_->run(n, net));
  ASSERT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 5); }, seconds(60))) << dump(names);
  int hubs = 0;
  for (const auto& n : names) hubs += nodes_->isHub(n);
  EXPECT_GE(hubs, 1) << "the hub set grows to 3 (hubs_docker_test follows that)";

  names.push_back(name("form", 5));
  ASSERT_TRUE(nodes_->run(names.back(), net));
  ASSERT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 6); }, seconds(30))) << dump(names);

  // docker stop: SIGTERM, the lease revoked, exit 0; the others list 5 long before the TTL.
  std::string leaver;
  for (const auto& n : names)
    if (!nodes_->isHub(n)) leaver = n;
  EXPECT_EQ(nodes_->stop(leaver), 0);
  std::erase(names, leaver);
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 5); }, seconds(3))) << dump(names);

  // docker kill: no goodbye; gone once its 4 s lease expires.
  std::string killed;
  for (const auto& n : names)
    if (!nodes_->isHub(n)) killed = n;
  nodes_->kill(killed);
  std::erase(names, killed);
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 4); }, seconds(30))) << dump(names);
}

TEST_F(ClusterDockerTest, AMemberAndTheOriginRestartedWithNewIpsStayWhatTheyWere) {
  std::string net = nodes_->network("ip");
  ASSERT_FALSE(net.empty());
  std::string p = nodes_->prefix(net);
  // Two nodes: one hub (the origin, etcd inside) and one member.
  std::vector<std::string> names;
  for (int i = 0; i < 2; ++i) {
    names.push_back(name("ip", i));
    ASSERT_TRUE(nodes_->run(names.back(), net, p + std::to_string(10 + i)));
  }
  ASSERT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 2); }, seconds(60))) << dump(names);
  std::string id = nodes_->clusterId(names[0]);
  std::string origin, member;
  for (const auto& n : names) (nodes_->isHub(n) ? origin : member) = n;
  ASSERT_FALSE(origin.empty());
  ASSERT_FALSE(member.empty());

  // A member: stopped, moved to a new IP, started.
  EXPECT_EQ(nodes_->stop(member), 0);
  nodes_->readdress(member, net, p + "100");
  nodes_->start(member);
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 2) && nodes_->ip(member) == p + "100"; }, seconds(30)))
      << dump(names);
  EXPECT_EQ(nodes_->clusterId(member), id);

  // The hub crashes (no handover: `docker stop` would hand the hub role to the member first),
  // and comes back at another IP: etcd restarts from its data and re-advertises its peer URL.
  nodes_->kill(origin);
  nodes_->readdress(origin, net, p + "101");
  nodes_->start(origin);
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 2); }, seconds(60))) << dump(names);
  EXPECT_EQ(nodes_->clusterId(origin), id) << "the same cluster, not a new one";
  EXPECT_TRUE(nodes_->isHub(origin));
}

// A partition made with iptables in the host's DOCKER-USER chain (traffic between the two sides
// of one Docker network is dropped both ways; DNS still lists everyone, probes just time out):
// each side forms its own cluster; when the rules go, the smaller side dissolves into the larger.
TEST_F(ClusterDockerTest, APartitionFormsTwoClustersThatMergeWhenItHeals) {
  std::string net = nodes_->network("split");
  ASSERT_FALSE(net.empty());
  std::string p = nodes_->prefix(net);
  std::vector<std::string> small{name("small", 0), name("small", 1)};
  std::vector<std::string> big{name("big", 0), name("big", 1), name("big", 2)};
  std::vector<std::string> rules;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (auto [src, dst] : {std::pair{20 + a, 30 + b}, std::pair{30 + b, 20 + a}})
        rules.push_back("DOCKER-USER -s " + p + std::to_string(src) + " -d " + p + std::to_string(dst) + " -j DROP");
  for (const auto& r : rules) ASSERT_EQ(sh("iptables -I " + r).exit_code, 0) << r;
  struct Heal {
    std::vector<std::string>& rules;
    ~Heal() {
      for (const auto& r : rules) sh("iptables -D " + r + " 2>/dev/null");
    }
  } heal{rules};
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(nodes_->run(small[i], net, p + std::to_string(20 + i)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(nodes_->run(big[i], net, p + std::to_string(30 + i)));
  ASSERT_TRUE(waitFor([&] { return nodes_->oneCluster(small, 2) && nodes_->oneCluster(big, 3); }, seconds(60)))
      << dump(small) << dump(big);
  std::string winner = nodes_->clusterId(big[0]);
  ASSERT_NE(nodes_->clusterId(small[0]), winner);

  for (const auto& r : rules) sh("iptables -D " + r);
  rules.clear();
  std::vector<std::string> all = small;
  all.insert(all.end(), big.begin(), big.end());
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(all, 5); }, seconds(60))) << dump(all);
  EXPECT_EQ(nodes_->clusterId(small[0]), winner) << "the smaller cluster dissolved into the larger";
}

}  // namespace
}  // namespace shoal::testing
