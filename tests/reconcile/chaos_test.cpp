// Randomized fault schedules over the whole loop, every one replayable from its seed: commits
// arrive at random (replica counts, new versions, versions whose health check fails), Docker calls
// fail, containers are killed or removed by hand, the state store refuses writes, and the node is
// "killed" (its reconciler destroyed and a new one started on the same store and Docker) between
// any two ticks. Invariants checked after every tick:
//   - the containers of other nodes (and unlabelled ones) are never touched;
//   - a tick never creates containers beyond max(what was there, replicas + max_surge);
//   - two containers never share a name (no duplicate replica after a restart);
// and once the faults stop, the node converges: exactly `replicas` running containers of the last
// commit's version, all healthy, and no journal entry left open.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "builder/docker_builder.h"
#include "gitops/fake_source.h"
#include "reconcile/desired.h"
#include "reconcile/fake_store.h"
#include "reconcile/reconciler.h"
#include "runtime/fake_runtime.h"

namespace shoal {
namespace {

class Chaos {
 public:
  explicit Chaos(uint32_t seed) : rng_(seed) {
    runtime_.addImageForTest("shoal/busybox:local");
    for (const char* name : {"foreign", "plain"}) {
      ContainerConfig c;
      c.name = name;
      c.image = "shoal/busybox:local";
      if (std::string(name) == "foreign") c.labels = {{kLabelCluster, "t"}, {kLabelNode, "ffffffffffffffff"}, {kLabelApp, "web"}};
      foreign_.push_back(*runtime_.create(c));
      (void)runtime_.start(foreign_.back());
    }
  }

  void commit(int replicas, bool bad) {
    ++version_;
    std::string web = "image: shoal/busybox:local\nreplicas: " + std::to_string(replicas) + "\nenv:\n  V: \"" +
                      std::to_string(version_) + "\"\n  BAD: \"" + (bad ? "1" : "0") +
                      "\"\nhealth:\n  cmd: [\"true\"]\n  deadline: 10s\nupdate:\n  max_surge: 1\n  max_unavailable: 0\n";
    source_.addCommit({{"cluster.yaml", "name: t\n"}, {"apps/web.yaml", MapFile(web.c_str())}});
  }

  void restart() {
    reconciler_.reset();
    ReconcilerOptions o;
    o.node_name = "n";
    reconciler_ = std::make_unique<Reconciler>(source_, runtime_, builder_, store_, cluster_, clock_, o);
    ASSERT_TRUE(reconciler_->start().has_value());
  }

  // Health as Docker would report it: bad versions fail their check, good ones pass (mostly).
  void driveHealth(double p_healthy) {
    for (const ContainerInfo& c : mine()) {
      if (c.state != ContainerState::kRunning || c.health != Health::kStarting) continue;
      if (isBad(c)) runtime_.setHealthForTest(c.id, Health::kUnhealthy);
      else if (std::bernoulli_distribution(p_healthy)(rng_)) runtime_.setHealthForTest(c.id, Health::kHealthy);
    }
  }

  void injectFaults() {
    std::bernoulli_distribution p10(0.1), p5(0.05), p3(0.03);
    if (p10(rng_)) {
      const char* ops[] = {"create", "start", "stop", "remove", "list", "inspect", "pause"};
      runtime_.failNextForTest(ops[rng_() % 7], Error{ErrorCode::kUnavailable, "injected", true});
    }
    auto cs = mine();
    if (!cs.empty() && p10(rng_)) runtime_.removeForTest(cs[rng_() % cs.size()].id);
    cs = mine();
    if (!cs.empty() && p10(rng_)) {
      const ContainerInfo& c = cs[rng_() % cs.size()];
      if (c.state == ContainerState::kRunning) runtime_.exitForTest(c.id, 137);
    }
    if (p10(rng_)) commit(static_cast<int>(rng_() % 5), std::bernoulli_distribution(0.3)(rng_));
    store_.setFailWritesForTest(p3(rng_) ? std::optional<Error>(Error{ErrorCode::kIo, "disk full", true}) : std::nullopt);
    if (p5(rng_)) restart();
  }

  std::string dump(const std::vector<ContainerInfo>& cs) {
    std::string out;
    for (const ContainerInfo& c : cs) {
      out += "  " + c.name + " " + containerStateName(c.state) + "/" + healthName(c.health) + " V=" +
             runtime_.configForTest(c.id)->env.at("V") + "\n";
    }
    return out;
  }

  void tick() {
    auto before_list = mine();
    size_t before = before_list.size();
    TimePoint next = reconciler_->tick();
    clock_.set(std::max(next, clock_.now() + Duration(100)));
    auto after = mine();
    std::set<std::string> names;
    for (const ContainerInfo& c : after) names.insert(c.name);
    ASSERT_EQ(names.size(), after.size()) << "two containers share a name";
    // The bound is the replicas of the spec the node applied (a commit not yet polled doesn't count).
    size_t desired = 0;
    for (const AppReport& a : reconciler_->report().apps)
      if (a.name == "web") desired = static_cast<size_t>(a.desired);
    ASSERT_LE(after.size(), std::max(before, desired + 1)) << "a tick created beyond replicas + max_surge\nbefore:\n" << dump(before_list) << "after:\n" << dump(after);
    for (const std::string& id : foreign_) {
      bool running = false;
      for (const ContainerInfo& c : runtime_.allForTest()) running |= c.id == id && c.state == ContainerState::kRunning;
      ASSERT_TRUE(running) << "a foreign container was removed or stopped";
    }
  }

  // What Docker holds for this node, read past the fault knobs (a queued failure is the node's).
  std::vector<ContainerInfo> mine() {
    std::vector<ContainerInfo> out;
    for (const ContainerInfo& c : runtime_.allForTest()) {
      auto node = c.labels.find(kLabelNode);
      if (node != c.labels.end() && node->second == cluster_.nodeId()) out.push_back(c);
    }
    return out;
  }

  bool isBad(const ContainerInfo& c) {
    auto cfg = runtime_.configForTest(c.id);
    return cfg && cfg->env.count("BAD") && cfg->env.at("BAD") == "1";
  }

  FakeClock clock_;
  FakeSpecSource source_;
  FakeRuntime runtime_{clock_};
  FakeStore store_;
  DockerImageBuilder builder_{runtime_, store_, clock_};
  FakeCluster cluster_{"0a1b2c3d4e5f6789"};
  std::unique_ptr<Reconciler> reconciler_;
  std::vector<std::string> foreign_;
  std::mt19937 rng_;
  int version_ = 0;
};

TEST(ChaosTest, RandomFaultSchedulesNeverDuplicateOrTouchOthersAndAlwaysConverge) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: run this seed alone)");
    Chaos chaos(seed);
    chaos.commit(2, false);
    chaos.restart();
    for (int i = 0; i < 80; ++i) {
      chaos.injectFaults();
      chaos.driveHealth(0.7);
      chaos.tick();
      if (::testing::Test::HasFatalFailure()) return;
    }
    // The faults stop; one last good commit.
    chaos.store_.setFailWritesForTest(std::nullopt);
    int n = 1 + static_cast<int>(seed % 4);
    chaos.commit(n, false);
    for (int i = 0; i < 40; ++i) {
      chaos.driveHealth(1.0);
      chaos.tick();
      if (::testing::Test::HasFatalFailure()) return;
    }
    auto cs = chaos.mine();
    ASSERT_EQ(static_cast<int>(cs.size()), n);
    for (const ContainerInfo& c : cs) {
      ASSERT_EQ(c.state, ContainerState::kRunning);
      ASSERT_EQ(c.health, Health::kHealthy);
      ASSERT_EQ(chaos.runtime_.configForTest(c.id)->env.at("V"), std::to_string(chaos.version_));
    }
    ASSERT_TRUE(chaos.store_.journalOpen()->empty());
    Report r = chaos.reconciler_->report();
    ASSERT_TRUE(r.converged) << "seed " << seed;
  }
}

}  // namespace
}  // namespace shoal
