// Membership (cluster/membership.h) with every node in this process: a FakeClock, MemKv stores
// behind fake hubs, a prober that asks the other Membership objects directly, and real static
// discovery sources. Nodes are ticked in rounds of 500 ms; partitions cut the prober's view and the
// stores' reach; crashes stop ticking a node; restarts build a new Membership over the same data dir.
#include "cluster/membership.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "cluster/mem_kv.h"
#include "cluster/shared_head_source.h"
#include "gitops/fake_source.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

struct World;

void writeBadFile(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

// The etcd of one node, as a MemKv made unreachable while "stopped".
class FakeHub : public Hub {
 public:
  FakeHub(World& world, std::string id) : world_(world), id_(std::move(id)) {}
  bool hasData() const override;
  Status start() override;
  void stop() override;
  Status dissolve() override;
  std::string clientUrl() const override { return "mem://" + id_; }
  std::string localUrl() const override { return "mem://" + id_; }
  std::string peerUrl() const override { return "mem-peer://" + id_; }
  // One hub per cluster here (no leader runs: no admin factory is set); multi-hub membership is
  // tested over SimEtcd (hubs_test.cpp).
  Status join(const std::string&) override { return fail(ErrorCode::kInvalid, "FakeHub: one hub per cluster"); }
  Status recover() override { return fail(ErrorCode::kInvalid, "FakeHub: one hub per cluster"); }
  bool running() const override;

 private:
  World& world_;
  std::string id_;
};

class FakeProber : public Prober {
 public:
  FakeProber(World& world, std::string self) : world_(world), self_(std::move(self)) {}
  std::vector<ProbeAnswer> probe(const std::vector<PeerAddress>& addresses, Duration timeout) override;

 private:
  World& world_;
  std::string self_;
};

struct TestNode {
  std::string id;
  std::string address;  // advertised IP
  std::string dir;
  int group = 0;        // nodes of different groups cannot reach each other (partition)
  bool running = false;
  std::unique_ptr<FakeProber> prober;
  std::unique_ptr<FakeHub> hub;
  std::unique_ptr<Membership> membership;
  std::vector<std::string> events;
};

// A node's client of a hub's store: every call fails while a partition separates them.
class RoutedKv : public KvStore {
 public:
  RoutedKv(std::function<bool()> reachable, std::unique_ptr<MemKv> inner)
      : reachable_(std::move(reachable)), inner_(std::move(inner)) {}
  Status put(const std::string& k, const std::string& v, LeaseId l) override {
    if (!reachable_()) return cut();
    return inner_->put(k, v, l);
  }
  Result<bool> putIfAbsent(const std::string& k, const std::string& v, LeaseId l, KeyValue* c) override {
    if (!reachable_()) return cut();
    return inner_->putIfAbsent(k, v, l, c);
  }
  Result<std::optional<KeyValue>> get(const std::string& k) override {
    if (!reachable_()) return cut();
    return inner_->get(k);
  }
  Result<std::vector<KeyValue>> list(const std::string& p) override {
    if (!reachable_()) return cut();
    return inner_->list(p);
  }
  Status remove(const std::string& k) override {
    if (!reachable_()) return cut();
    return inner_->remove(k);
  }
  Result<LeaseId> grantLease(Duration ttl) override {
    if (!reachable_()) return cut();
    return inner_->grantLease(ttl);
  }
  Status keepAlive(LeaseId l) override {
    if (!reachable_()) return cut();
    return inner_->keepAlive(l);
  }
  Status revokeLease(LeaseId l) override {
    if (!reachable_()) return cut();
    return inner_->revokeLease(l);
  }

 private:
  static std::unexpected<Error> cut() { return unavailable("store: partitioned (test)"); }
  std::function<bool()> reachable_;
  std::unique_ptr<MemKv> inner_;
};

struct World {
  FakeClock clock;
  fs::path root = fs::temp_directory_path() / ("shoal-membership-" + std::to_string(getpid()) + "-" +
                                               std::to_string(reinterpret_cast<uintptr_t>(this)));
  std::map<std::string, std::unique_ptr<MemKv>> stores;  // hub node id -> its etcd
  std::map<std::string, bool> hub_running;
  std::vector<std::unique_ptr<TestNode>> nodes;
  bool healed = true;

  World() { fs::create_directories(root); }
  ~World() {
    for (auto& n : nodes) n->membership.reset();
    fs::remove_all(root);
  }

  TestNode* find(const std::string& id) {
    for (auto& n : nodes)
      if (n->id == id) return n.get();
    return nullptr;
  }
  TestNode* byAddress(const std::string& address) {
    for (auto& n : nodes)
      if (n->address == address) return n.get();
    return nullptr;
  }
  bool reach(const TestNode& a, const TestNode& b) const { return healed || a.group == b.group; }

  // Every node's static source lists every address the world will use.
  std::vector<DiscoverySourcePtr> sources() {
    DiscoverySourceConfig c;
    c.kind = DiscoveryKind::kStatic;
    for (int i = 1; i <= 12; ++i) c.addresses.push_back("10.0.0." + std::to_string(i) + ":7444");
    std::vector<DiscoverySourcePtr> out;
    out.push_back(std::move(*makeDiscoverySource(c)));
    return out;
  }

  TestNode& add(const std::string& id, const std::string& address, int group = 0) {
    auto n = std::make_unique<TestNode>();
    n->id = id;
    n->address = address;
    n->group = group;
    n->dir = (root / id).string();
    fs::create_directories(n->dir);
    nodes.push_back(std::move(n));
    start(*nodes.back());
    return *nodes.back();
  }

  void start(TestNode& n) {
    n.prober = std::make_unique<FakeProber>(*this, n.id);
    n.hub = std::make_unique<FakeHub>(*this, n.id);
    MembershipOptions o;
    o.node_id = n.id;
    o.node_name = "node-" + n.id;
    o.data_dir = n.dir;
    o.advertise = n.address;
    o.peer_port = 7444;
    o.lease_ttl = Duration(6000);
    o.merge_interval = Duration(2000);
    TestNode* self = &n;
    StoreFactory factory = [this, self](const std::vector<std::string>& endpoints) -> KvStorePtr {
      for (const auto& e : endpoints) {
        std::string hub = e.substr(std::string("mem://").size());
        TestNode* h = find(hub);
        if (stores.count(hub) && h && reach(*self, *h))
          return std::make_unique<RoutedKv>([this, self, h] { return reach(*self, *h); }, stores[hub]->share());
      }
      auto dead = std::make_unique<MemKv>(clock);
      dead->setUnavailableForTest(true);
      return dead;
    };
    n.membership = std::make_unique<Membership>(o, sources(), *n.prober, *n.hub, factory, clock,
                                                [self](const std::string&, const std::string& kind, const std::string&) {
                                                  self->events.push_back(kind);
                                                });
    n.running = true;
  }

  // A crash: no more ticks, no leave; its etcd (if hub) dies with it.
  void crash(TestNode& n) {
    n.running = false;
    n.hub->stop();
    n.membership.reset();
  }

  void rounds(int count) {
    for (int i = 0; i < count; ++i) {
      for (auto& n : nodes)
        if (n->running) n->membership->tick();
      clock.advance(Duration(500));
    }
  }

  std::set<std::string> clusters() {
    std::set<std::string> out;
    for (auto& n : nodes) {
      if (!n->running) continue;
      auto s = n->membership->status();
      out.insert(s.cluster ? s.cluster->id : "(none)");
    }
    return out;
  }
};

bool FakeHub::hasData() const { return world_.stores.count(id_) > 0; }
Status FakeHub::start() {
  if (!world_.stores.count(id_)) world_.stores[id_] = std::make_unique<MemKv>(world_.clock);
  world_.stores[id_]->setUnavailableForTest(false);
  return ok();
}
bool FakeHub::running() const { return world_.stores.count(id_) > 0; }
void FakeHub::stop() {
  if (world_.stores.count(id_)) world_.stores[id_]->setUnavailableForTest(true);
}
Status FakeHub::dissolve() {
  stop();
  world_.stores.erase(id_);
  return ok();
}

std::vector<ProbeAnswer> FakeProber::probe(const std::vector<PeerAddress>& addresses, Duration) {
  std::vector<ProbeAnswer> out;
  TestNode* self = world_.find(self_);
  for (const auto& a : addresses) {
    TestNode* n = world_.byAddress(a.host);
    if (!n || !n->running || n == self || !world_.reach(*self, *n)) continue;
    out.push_back(n->membership->answer());
  }
  return out;
}

TEST(Membership, ThreeNodesStartedTogetherFormOneClusterWithTheLowestIdAsOrigin) {
  World w;
  w.add("b2", "10.0.0.2");
  w.add("a1", "10.0.0.1");
  w.add("c3", "10.0.0.3");
  w.rounds(20);
  ASSERT_EQ(w.clusters().size(), 1u);
  for (auto& n : w.nodes) {
    EXPECT_TRUE(n->membership->settled()) << n->id;
    EXPECT_EQ(n->membership->size(), 3) << n->id;
    EXPECT_EQ(n->membership->isOrigin(), n->id == "a1") << n->id;
  }
  auto s = w.find("c3")->membership->status();
  EXPECT_EQ(s.cluster->origin, "a1");
  EXPECT_EQ(s.hubs, std::vector<std::string>{"mem://a1"});
  ASSERT_EQ(s.members.size(), 3u);
  EXPECT_EQ(s.members[0].peer_address, "10.0.0.1:7444");
  EXPECT_TRUE(s.members[0].hub);
  EXPECT_GT(s.members[1].facts.cpus, 0);
  EXPECT_EQ(w.find("a1")->events, std::vector<std::string>{"cluster.originated"});
  EXPECT_EQ(w.find("b2")->events, std::vector<std::string>{"cluster.joined"});
}

TEST(Membership, NothingIsSettledWhileDiscovering) {
  World w;
  auto& a = w.add("a1", "10.0.0.1");
  w.rounds(2);  // the stable window (3 s) has not passed
  EXPECT_FALSE(a.membership->settled());
  EXPECT_EQ(a.membership->size(), 0);
  EXPECT_FALSE(a.membership->isOrigin());
  EXPECT_EQ(a.membership->status().reason, "discovery not stable yet (1 node seen)");
  w.rounds(8);
  EXPECT_TRUE(a.membership->settled());
  EXPECT_TRUE(a.membership->isOrigin());
  EXPECT_EQ(a.membership->size(), 1);
}

TEST(Membership, ALateNodeJoinsAndALeavingNodeIsDroppedAtOnce) {
  World w;
  w.add("a1", "10.0.0.1");
  w.add("b2", "10.0.0.2");
  w.rounds(20);
  auto& c = w.add("c3", "10.0.0.3");
  w.rounds(2);
  EXPECT_EQ(w.find("a1")->membership->size(), 3);
  EXPECT_EQ(c.events, std::vector<std::string>{"cluster.joined"});
  c.membership->leave();
  c.running = false;
  w.rounds(1);
  EXPECT_EQ(w.find("a1")->membership->size(), 2) << "a revoked lease drops the node at once";
  EXPECT_EQ(c.events.back(), "cluster.left");
}

TEST(Membership, ACrashedMemberDisappearsWhenItsLeaseExpires) {
  World w;
  w.add("a1", "10.0.0.1");
  w.add("b2", "10.0.0.2");
  w.add("c3", "10.0.0.3");
  w.rounds(20);
  w.crash(*w.find("c3"));
  w.rounds(4);  // 2 s: still listed
  EXPECT_EQ(w.find("a1")->membership->size(), 3);
  w.rounds(14);  // past the 6 s TTL
  EXPECT_EQ(w.find("a1")->membership->size(), 2);
  EXPECT_EQ(w.find("b2")->membership->size(), 2);
}

TEST(Membership, AMemberCutOffLongerThanItsLeaseRegistersAgain) {
  World w;
  w.add("a1", "10.0.0.1");
  auto& b = w.add("b2", "10.0.0.2", 1);
  w.rounds(20);
  w.healed = false;  // b cannot reach a's etcd (nor probe a)
  w.rounds(16);      // 8 s > 6 s TTL
  EXPECT_EQ(w.find("a1")->membership->size(), 1);
  w.healed = true;
  w.rounds(6);
  EXPECT_EQ(w.find("a1")->membership->size(), 2);
  EXPECT_EQ(w.clusters().size(), 1u);
  EXPECT_NE(std::find(b.events.begin(), b.events.end(), "cluster.lease_lost"), b.events.end());
}

// A hub's address can come to serve another cluster: the hub restarted, lost its data and
// originated anew. Its members' leases are gone there; registering again must not write their
// records into that other cluster (its leader would place apps on them and make them hubs).
TEST(Membership, AMemberNeverRegistersInAnotherClustersStoreAtItsHubsAddress) {
  World w;
  w.add("a1", "10.0.0.1");
  auto& b = w.add("b2", "10.0.0.2");
  w.rounds(20);
  std::string own = b.membership->status().cluster->id;
  w.crash(*w.find("a1"));
  MemKv other(w.clock);  // another cluster's etcd, answering at the same address
  ASSERT_TRUE(other.put(kClusterKey, R"({"id":"0123456789abcdef","origin":"a1"})"));
  w.stores["a1"]->copyFrom(other);
  w.stores["a1"]->setUnavailableForTest(false);
  w.rounds(8);  // 4 s: a keepalive and a facts refresh
  auto record = w.stores["a1"]->get(std::string(kNodesPrefix) + "b2");
  ASSERT_TRUE(record);
  EXPECT_FALSE(*record) << "b2 registered in the other cluster's store";
  auto s = b.membership->status();
  ASSERT_TRUE(s.cluster);
  EXPECT_EQ(s.cluster->id, own);
  EXPECT_NE(s.reason.find("belongs to cluster 0123456789abcdef, not " + own), std::string::npos) << s.reason;
}

TEST(Membership, APartitionFormsTwoClustersThatMergeIntoTheLargerWhenHealed) {
  World w;
  w.healed = false;
  w.add("a1", "10.0.0.1", 0);
  w.add("b2", "10.0.0.2", 1);
  w.add("c3", "10.0.0.3", 1);
  w.rounds(20);
  EXPECT_EQ(w.clusters().size(), 2u);
  EXPECT_EQ(w.find("b2")->membership->size(), 2);
  std::string big = w.find("b2")->membership->status().cluster->id;
  w.healed = true;
  w.rounds(20);
  ASSERT_EQ(w.clusters(), std::set<std::string>{big}) << "the smaller (a1 alone) dissolved into the larger";
  EXPECT_EQ(w.find("a1")->membership->size(), 3);
  EXPECT_FALSE(w.find("a1")->membership->isOrigin());
  EXPECT_TRUE(w.find("b2")->membership->isOrigin());
  auto& ev = w.find("a1")->events;
  EXPECT_NE(std::find(ev.begin(), ev.end(), "cluster.dissolving"), ev.end());
  EXPECT_FALSE(w.find("a1")->hub->hasData()) << "the dissolved hub's etcd data is gone";
}

TEST(Membership, MembersFollowTheirHubWhenItDissolves) {
  World w;
  w.healed = false;
  w.add("a1", "10.0.0.1", 0);
  w.add("d4", "10.0.0.4", 0);
  w.add("b2", "10.0.0.2", 1);
  w.add("c3", "10.0.0.3", 1);
  w.add("e5", "10.0.0.5", 1);
  w.rounds(20);
  ASSERT_EQ(w.clusters().size(), 2u);
  w.healed = true;
  w.rounds(40);
  EXPECT_EQ(w.clusters().size(), 1u);
  for (auto& n : w.nodes) EXPECT_EQ(n->membership->size(), 5) << n->id;
}

TEST(Membership, TheOriginRestartedWithANewAddressReturnsAsHubFromItsData) {
  World w;
  auto& a = w.add("a1", "10.0.0.1");
  w.add("b2", "10.0.0.2");
  w.rounds(20);
  std::string cluster = a.membership->status().cluster->id;
  w.crash(a);
  a.address = "10.0.0.9";  // the container came back with another IP
  w.start(a);
  w.rounds(10);
  EXPECT_EQ(w.clusters(), std::set<std::string>{cluster});
  EXPECT_TRUE(a.membership->isOrigin());
  EXPECT_EQ(a.events.back(), "cluster.returned");
  EXPECT_EQ(w.find("b2")->membership->size(), 2);
  auto members = w.find("b2")->membership->status().members;
  EXPECT_EQ(members[0].peer_address, "10.0.0.9:7444") << "the new address is registered";
}

TEST(Membership, AMemberRestartedWithANewAddressRejoinsItsRememberedCluster) {
  World w;
  w.add("a1", "10.0.0.1");
  auto& b = w.add("b2", "10.0.0.2");
  w.rounds(20);
  w.crash(b);
  b.address = "10.0.0.8";
  w.start(b);
  w.rounds(1);
  EXPECT_TRUE(b.membership->settled()) << "rejoined on its first tick, no discovery window";
  EXPECT_EQ(b.events, (std::vector<std::string>{"cluster.joined", "cluster.rejoined"}));
  EXPECT_EQ(w.find("a1")->membership->size(), 2);
}

TEST(Membership, AClusterWhoseHubCannotBeReachedIsIgnoredAfterThreeFailedJoins) {
  World w;
  w.healed = false;
  auto& a = w.add("a1", "10.0.0.1", 0);
  w.rounds(10);
  ASSERT_TRUE(a.membership->isOrigin());
  w.stores["a1"]->setUnavailableForTest(true);  // a answers probes, but its etcd is dead
  w.healed = true;
  auto& b = w.add("b2", "10.0.0.2", 0);
  w.rounds(20);
  EXPECT_EQ(std::count(b.events.begin(), b.events.end(), "cluster.join_failed"), 3);
  EXPECT_NE(std::find(b.events.begin(), b.events.end(), "cluster.ignored"), b.events.end());
  EXPECT_TRUE(b.membership->isOrigin()) << "b formed a cluster of its own instead of waiting forever";

  // The ignore runs out: once a's hub answers again, the two clusters merge (a's is older).
  w.stores["a1"]->setUnavailableForTest(false);
  w.rounds(80);
  EXPECT_EQ(w.clusters().size(), 1u);
  EXPECT_EQ(b.membership->size(), 2);
}

TEST(Membership, OneCheckerPerClusterSharesTheSpecHeadAndAnotherTakesOverWhenItDies) {
  World w;
  w.add("a1", "10.0.0.1");
  w.add("b2", "10.0.0.2");
  w.add("c3", "10.0.0.3");
  w.rounds(20);
  std::vector<TestNode*> checkers;
  for (auto& n : w.nodes)
    if (n->membership->isChecker()) checkers.push_back(n.get());
  ASSERT_EQ(checkers.size(), 1u);
  checkers[0]->membership->offerHead("c0ffee");
  w.rounds(2);
  for (auto& n : w.nodes) EXPECT_EQ(n->membership->publishedHead(), "c0ffee") << n->id;

  // The hub registers first, so it checks first. Hand the key to c3 (as if c3 had come first),
  // then kill c3: its lease ends, the key goes with it, and another member takes over.
  TestNode* c3 = w.find("c3");
  ASSERT_TRUE(w.stores["a1"]->put("/shoal/spec/checker", "c3", c3->membership->status().lease).has_value());
  w.rounds(1);
  ASSERT_TRUE(c3->membership->isChecker());
  ASSERT_FALSE(checkers[0]->membership->isChecker());
  TestNode* dead = c3;
  w.crash(*dead);
  w.rounds(16);
  std::vector<TestNode*> now;
  for (auto& n : w.nodes)
    if (n->running && n->membership->isChecker()) now.push_back(n.get());
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], dead);
  now[0]->membership->offerHead("beef");
  w.rounds(2);
  for (auto& n : w.nodes) {
    if (n->running) {
      EXPECT_EQ(n->membership->publishedHead(), "beef") << n->id;
    }
  }
}

TEST(Membership, AHubWhoseEtcdStaysDeadGivesTheClusterUpAndSoDoItsMembers) {
  World w;
  auto& a = w.add("a1", "10.0.0.1");
  auto& b = w.add("b2", "10.0.0.2");
  w.rounds(20);
  ASSERT_TRUE(a.membership->isOrigin());
  w.stores["a1"]->setUnavailableForTest(true);  // its etcd keeps failing (a corrupt data dir)
  w.rounds(10);
  EXPECT_TRUE(a.membership->settled()) << "a few failures are not the end";
  w.rounds(80);  // 40 s > 6 TTLs of 6 s
  EXPECT_NE(std::find(a.events.begin(), a.events.end(), "cluster.given_up"), a.events.end());
  EXPECT_NE(std::find(b.events.begin(), b.events.end(), "cluster.given_up"), b.events.end());
  EXPECT_FALSE(a.membership->isOrigin() && b.membership->isOrigin()) << "never two origins";
}

TEST(Membership, AnUnreadableMembershipFileMeansDiscoveringNotACrash) {
  World w;
  auto& a = w.add("a1", "10.0.0.1");
  w.crash(a);
  w.stores.clear();  // no etcd data: it must look at membership.json
  writeBadFile(a.dir + "/membership.json", R"({"cluster": {"id": 7}, "hubs": "not a list"})");
  w.start(a);
  w.rounds(10);
  EXPECT_TRUE(a.membership->isOrigin()) << "it formed a cluster of its own";
}

TEST(SharedHeadSource, OnlyTheCheckerFetchesWhileTheHeadIsUnchanged) {
  World w;
  w.add("a1", "10.0.0.1");
  w.add("b2", "10.0.0.2");
  w.add("c3", "10.0.0.3");
  w.rounds(20);
  FakeClock clock;
  std::vector<std::unique_ptr<FakeSpecSource>> repos;  // each node's own mirror of one repo
  std::vector<std::unique_ptr<SharedHeadSource>> sources;
  std::string c1;
  for (auto& n : w.nodes) {
    repos.push_back(std::make_unique<FakeSpecSource>());
    c1 = repos.back()->addCommit({{"cluster.yaml", "name: t\n"}});
    sources.push_back(std::make_unique<SharedHeadSource>(*repos.back(), *n->membership));
  }
  auto pollAll = [&](int times) {
    for (int i = 0; i < times; ++i) {
      for (auto& s : sources) ASSERT_TRUE(s->poll().has_value());
      w.rounds(1);
    }
  };
  pollAll(3);  // everyone fetches once to learn the head; the checker publishes it
  std::vector<int64_t> before;
  for (auto& s : sources) before.push_back(s->fetches());
  pollAll(20);
  int checker_fetches = 0, other_fetches = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    int64_t d = sources[i]->fetches() - before[i];
    (w.nodes[i]->membership->isChecker() ? checker_fetches : other_fetches) += static_cast<int>(d);
  }
  EXPECT_EQ(checker_fetches, 20);
  EXPECT_EQ(other_fetches, 0) << "the others answered the published head without fetching";

  // A push: the checker sees it, publishes it, and each other node fetches once.
  std::string c2;
  for (auto& r : repos) c2 = r->addCommit({{"cluster.yaml", "name: t2\n"}});
  pollAll(4);
  for (auto& s : sources) EXPECT_EQ(*s->poll(), c2);
}

}  // namespace
}  // namespace shoal
