// The whole loop on fakes: a fake spec repo, the fake runtime, the real builder over it, the fake
// store, a fake cluster and a fake clock. No sleeping: time moves when the test says so.
#include "reconcile/reconciler.h"

#include <gtest/gtest.h>

#include <set>

#include <algorithm>

#include "builder/docker_builder.h"
#include "gitops/fake_source.h"
#include "reconcile/desired.h"
#include "reconcile/fake_store.h"
#include "runtime/fake_runtime.h"

namespace shoal {
namespace {

const char* kCluster = "name: t\nmin_nodes: 1\nbelow_min: pause\n";

std::string webYaml(int replicas, const std::string& greeting, const std::string& extra = "") {
  return "build: web\nreplicas: " + std::to_string(replicas) + "\nenv:\n  GREETING: \"" + greeting +
         "\"\nhealth:\n  cmd: [\"true\"]\n  deadline: 20s\n" + extra;
}

MapTree::Files specFiles(const std::string& web) {
  return {{"cluster.yaml", kCluster}, {"apps/web.yaml", MapFile(web.c_str())},
          {"web/Dockerfile", "FROM shoal/busybox:local\n"}};
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() { runtime_.addImageForTest("shoal/busybox:local"); }

  std::unique_ptr<Reconciler> makeReconciler() {
    ReconcilerOptions o;
    o.node_name = "n1";
    auto r = std::make_unique<Reconciler>(source_, runtime_, builder_, store_, cluster_, clock_, o);
    EXPECT_TRUE(r->start().has_value());
    return r;
  }

  // Runs ticks, advancing the clock to each next deadline, `n` times.
  void ticks(Reconciler& r, int n = 1) {
    for (int i = 0; i < n; ++i) {
      TimePoint next = r.tick();
      if (next > clock_.now()) clock_.set(next);
    }
  }

  std::vector<ContainerInfo> mine() {
    auto all = runtime_.list({{kLabelNode, cluster_.nodeId()}});
    return all ? *all : std::vector<ContainerInfo>{};
  }

  void healthAll(Health h) {
    for (const ContainerInfo& c : mine())
      if (c.state == ContainerState::kRunning && c.health != h) runtime_.setHealthForTest(c.id, h);
  }

  int count(ContainerState s) {
    auto cs = mine();
    return static_cast<int>(std::count_if(cs.begin(), cs.end(), [s](const ContainerInfo& c) { return c.state == s; }));
  }

  const AppReport* app(const Report& r, const std::string& name) {
    for (const AppReport& a : r.apps)
      if (a.name == name) return &a;
    return nullptr;
  }

  // Up and healthy at commit `c1_` with `replicas` replicas.
  std::unique_ptr<Reconciler> healthyWeb(int replicas = 2) {
    c1_ = source_.addCommit(specFiles(webYaml(replicas, "one")));
    auto r = makeReconciler();
    ticks(*r);
    healthAll(Health::kHealthy);
    ticks(*r, 2);
    EXPECT_EQ(app(r->report(), "web")->phase, "healthy");
    return r;
  }

  FakeClock clock_;
  FakeSpecSource source_;
  FakeRuntime runtime_{clock_};
  FakeStore store_;
  DockerImageBuilder builder_{runtime_, store_, clock_};
  FakeCluster cluster_{"0a1b2c3d4e5f6789"};
  std::string c1_;
};

TEST_F(ReconcilerTest, FirstCommitIsBuiltStartedAndMarkedHealthyInItsNote) {
  auto r = healthyWeb(2);
  EXPECT_EQ(count(ContainerState::kRunning), 2);
  Report rep = r->report();
  EXPECT_EQ(rep.applied_commit, c1_);
  EXPECT_TRUE(rep.converged);
  EXPECT_EQ(builder_.buildsStarted(), 1);
  std::string note = source_.notes()[c1_];
  EXPECT_NE(note.find("shoal: healthy"), std::string::npos) << note;
  EXPECT_NE(note.find("accepted"), std::string::npos) << note;
  EXPECT_NE(note.find("deployed"), std::string::npos) << note;
}

TEST_F(ReconcilerTest, ABrokenCommitIsRefusedWithEveryErrorAndTouchesNothing) {
  auto r = healthyWeb(2);
  int creates = runtime_.callsForTest("create"), removes = runtime_.callsForTest("remove");
  std::string bad = source_.addCommit(specFiles("build: web\nreplicas: three\nportz: 1\n"));
  ticks(*r, 3);
  Report rep = r->report();
  EXPECT_EQ(rep.refused_commit, bad);
  EXPECT_EQ(rep.applied_commit, c1_);
  ASSERT_EQ(rep.refused_errors.size(), 2u);
  EXPECT_EQ(rep.refused_errors[0], "apps/web.yaml:2:11: replicas: expected an integer, got \"three\"");
  EXPECT_NE(rep.refused_errors[1].find("apps/web.yaml:3:1: portz: unknown key"), std::string::npos);
  EXPECT_EQ(runtime_.callsForTest("create"), creates);
  EXPECT_EQ(runtime_.callsForTest("remove"), removes);
  EXPECT_EQ(count(ContainerState::kRunning), 2);
  EXPECT_NE(source_.notes()[bad].find("refused"), std::string::npos);
  auto events = store_.events(0, 1000);
  int refusals = static_cast<int>(std::count_if(events->begin(), events->end(),
                                                [](const Event& e) { return e.kind == "commit.refused"; }));
  EXPECT_EQ(refusals, 1) << "a refused head is evaluated once, not at every poll";
}

TEST_F(ReconcilerTest, AFixedCommitAfterARefusedOneIsApplied) {
  auto r = healthyWeb(1);
  source_.addCommit(specFiles("replicas: [\n"));
  ticks(*r, 2);
  EXPECT_FALSE(r->report().refused_commit.empty());
  std::string good = source_.addCommit(specFiles(webYaml(2, "one")));
  ticks(*r, 2);
  EXPECT_EQ(r->report().applied_commit, good);
  EXPECT_TRUE(r->report().refused_commit.empty());
}

TEST_F(ReconcilerTest, ReplicasOnlyChangeStartsNoBuildAndKeepsHealthyOnes) {
  auto r = healthyWeb(1);
  std::string first = mine()[0].id;
  source_.addCommit(specFiles(webYaml(3, "one")));
  ticks(*r);
  EXPECT_EQ(builder_.buildsStarted(), 1);
  healthAll(Health::kHealthy);
  ticks(*r, 2);
  EXPECT_EQ(count(ContainerState::kRunning), 3);
  auto cs = mine();
  EXPECT_TRUE(std::any_of(cs.begin(), cs.end(), [&](const ContainerInfo& c) { return c.id == first; }))
      << "the healthy replica is kept, not replaced";
}

TEST_F(ReconcilerTest, AnUnhealthyNewVersionIsRolledBackAndTheOldOneKeepsServing) {
  auto r = healthyWeb(2);
  auto old = mine();
  std::string bad = source_.addCommit(specFiles(webYaml(2, "two")));
  ticks(*r);
  healthAll(Health::kUnhealthy);  // the new replica fails its check (the old ones were healthy)
  for (const ContainerInfo& c : old) runtime_.setHealthForTest(c.id, Health::kHealthy);
  ticks(*r, 4);
  Report rep = r->report();
  const AppReport* web = app(rep, "web");
  ASSERT_NE(web, nullptr);
  EXPECT_TRUE(web->rolled_back);
  EXPECT_EQ(web->failed_commit, bad);
  EXPECT_NE(web->failed_reason.find("health check `true` failed"), std::string::npos) << web->failed_reason;
  auto now = mine();
  ASSERT_EQ(now.size(), 2u);
  for (const ContainerInfo& c : now) EXPECT_TRUE(c.id == old[0].id || c.id == old[1].id);
  EXPECT_NE(source_.notes()[bad].find("rolled_back"), std::string::npos) << source_.notes()[bad];
  ticks(*r, 5);
  EXPECT_EQ(runtime_.callsForTest("create"), 3) << "a failed version is not retried";
}

TEST_F(ReconcilerTest, ARolledBackCommitStaysRolledBackAcrossARestart) {
  auto r = healthyWeb(1);
  std::string bad = source_.addCommit(specFiles(webYaml(1, "two")));
  ticks(*r);
  for (const ContainerInfo& c : mine())
    if (c.health == Health::kStarting) runtime_.setHealthForTest(c.id, Health::kUnhealthy);
  ticks(*r, 4);
  ASSERT_NE(source_.notes()[bad].find("rolled_back"), std::string::npos);
  r.reset();
  auto again = makeReconciler();
  ticks(*again, 4);
  std::string note = source_.notes()[bad];
  EXPECT_EQ(note.rfind("shoal: rolled_back", 0), 0u) << note;
  EXPECT_NE(note.find("accepted"), std::string::npos) << "the note's history is kept: " << note;
}

TEST_F(ReconcilerTest, TheLastGoodVersionStandsInAtTheScaleTheSpecAsksForNow) {
  auto r = healthyWeb(1);
  source_.addCommit(specFiles(webYaml(3, "one")));  // same version, more replicas: no new good record
  ticks(*r);
  healthAll(Health::kHealthy);
  ticks(*r, 2);
  ASSERT_EQ(mine().size(), 3u);
  source_.addCommit(specFiles(webYaml(3, "two")));
  ticks(*r);
  for (const ContainerInfo& c : mine())
    if (c.health == Health::kStarting) runtime_.setHealthForTest(c.id, Health::kUnhealthy);
  ticks(*r, 4);
  EXPECT_TRUE(app(r->report(), "web")->rolled_back);
  EXPECT_EQ(count(ContainerState::kRunning), 3) << "rolled back to the good version, still 3 replicas";
}

TEST_F(ReconcilerTest, ADockerHiccupWhileResolvingImagesHoldsTheAppAsItIs) {
  auto r = healthyWeb(2);
  auto before = mine();
  source_.addCommit(specFiles(webYaml(2, "two")));
  runtime_.failNextForTest("imageExists", Error{ErrorCode::kTimeout, "docker: timed out", true});
  ticks(*r);
  EXPECT_EQ(app(r->report(), "web")->phase, "held");
  EXPECT_EQ(mine().size(), before.size());
  EXPECT_EQ(runtime_.callsForTest("create"), 2) << "no rollback to the old version, no flapping";
  ticks(*r);
  EXPECT_EQ(runtime_.callsForTest("create"), 3) << "resolved at the next tick: the update starts";
}

TEST_F(ReconcilerTest, RemovedContainersAreRecreated) {
  auto r = healthyWeb(2);
  runtime_.removeForTest(mine()[0].id);
  runtime_.exitForTest(mine()[0].id, 137);
  ticks(*r);
  EXPECT_EQ(count(ContainerState::kRunning), 2);
}

TEST_F(ReconcilerTest, ContainersOfOtherNodesOrWithoutLabelsAreNeverTouched) {
  ContainerConfig foreign;
  foreign.name = "someone-elses";
  foreign.image = "shoal/busybox:local";
  foreign.labels = {{kLabelCluster, "t"}, {kLabelNode, "ffffffffffffffff"}, {kLabelApp, "web"}};
  auto f = runtime_.create(foreign);
  ContainerConfig plain;
  plain.name = "plain";
  plain.image = "shoal/busybox:local";
  auto p = runtime_.create(plain);
  ASSERT_TRUE(f && p);
  ASSERT_TRUE(runtime_.start(*f) && runtime_.start(*p));
  auto r = healthyWeb(1);
  source_.addCommit({{"cluster.yaml", kCluster}});  // every app removed: prune
  ticks(*r, 3);
  EXPECT_TRUE(mine().empty());
  EXPECT_TRUE(store_.apps()->empty()) << "a pruned app's record is forgotten";
  EXPECT_EQ(runtime_.inspect(*f)->state, ContainerState::kRunning);
  EXPECT_EQ(runtime_.inspect(*p)->state, ContainerState::kRunning);
}

TEST_F(ReconcilerTest, BelowMinNodesPausesThenResumes) {
  auto r = healthyWeb(2);
  source_.addCommit({{"cluster.yaml", "name: t\nmin_nodes: 2\nbelow_min: pause\n"},
                     {"apps/web.yaml", MapFile(webYaml(2, "one").c_str())},
                     {"web/Dockerfile", "FROM shoal/busybox:local\n"}});
  ticks(*r, 2);
  EXPECT_EQ(count(ContainerState::kPaused), 2);
  EXPECT_EQ(r->report().activation, "pause");
  cluster_.setSize(2);
  ticks(*r, 2);
  EXPECT_EQ(count(ContainerState::kRunning), 2);
  EXPECT_EQ(r->report().activation, "run");
}

TEST_F(ReconcilerTest, BelowMinNodesWithStopStopsThenStartsTheSameContainers) {
  auto r = healthyWeb(1);
  std::string id = mine()[0].id;
  source_.addCommit({{"cluster.yaml", "name: t\nmin_nodes: 2\nbelow_min: stop\n"},
                     {"apps/web.yaml", MapFile(webYaml(1, "one").c_str())},
                     {"web/Dockerfile", "FROM shoal/busybox:local\n"}});
  ticks(*r, 2);
  EXPECT_EQ(count(ContainerState::kExited), 1);
  cluster_.setSize(3);
  ticks(*r, 2);
  ASSERT_EQ(mine().size(), 1u);
  EXPECT_EQ(mine()[0].id, id);
  EXPECT_EQ(mine()[0].state, ContainerState::kRunning);
}

TEST_F(ReconcilerTest, OriginAppsRunOnTheOriginOnlyEveryNodeAppsEverywhere) {
  cluster_.setOrigin(false);
  cluster_.setSize(2);
  source_.addCommit({{"cluster.yaml", kCluster},
                     {"apps/web.yaml", MapFile(webYaml(2, "one").c_str())},
                     {"apps/agent.yaml", MapFile("build: web\nplacement: every-node\n")},
                     {"web/Dockerfile", "FROM shoal/busybox:local\n"}});
  auto r = makeReconciler();
  ticks(*r, 3);
  auto names = [&] {
    std::multiset<std::string> out;
    for (const ContainerInfo& c : mine()) out.insert(c.labels.at(kLabelApp));
    return out;
  };
  EXPECT_EQ(names(), (std::multiset<std::string>{"agent"})) << "not the origin: only the every-node app";
  cluster_.setOrigin(true);  // this node became the origin
  ticks(*r, 3);
  EXPECT_EQ(names(), (std::multiset<std::string>{"agent", "web", "web"}));
  cluster_.setOrigin(false);
  ticks(*r, 3);
  EXPECT_EQ(names(), (std::multiset<std::string>{"agent"}));
}

TEST_F(ReconcilerTest, NothingIsTouchedUntilTheClusterIsSettled) {
  auto r = healthyWeb(2);
  cluster_.setSettled(false);
  cluster_.setOrigin(false);  // would remove both replicas if acted upon
  ticks(*r, 4);
  EXPECT_EQ(count(ContainerState::kRunning), 2);
  EXPECT_FALSE(r->report().cluster_settled);
  cluster_.setSettled(true);
  ticks(*r, 3);
  EXPECT_EQ(count(ContainerState::kRunning), 0);
  EXPECT_TRUE(r->report().cluster_settled);
}

TEST_F(ReconcilerTest, AnUnreachableRepoKeepsTheLastGoodCommitRunning) {
  auto r = healthyWeb(2);
  source_.setUnreachableForTest(true);
  ticks(*r, 5);
  Report rep = r->report();
  EXPECT_FALSE(rep.source_error.empty());
  EXPECT_EQ(rep.applied_commit, c1_);
  EXPECT_EQ(count(ContainerState::kRunning), 2);
  int polls = source_.pollCount();
  clock_.advance(Duration(1500));
  r->tick();
  EXPECT_EQ(source_.pollCount(), polls) << "a failing remote is polled with backoff";
  source_.setUnreachableForTest(false);
  clock_.advance(Duration(120000));
  ticks(*r);
  EXPECT_TRUE(r->report().source_error.empty());
}

TEST_F(ReconcilerTest, ARestartedNodeAdoptsItsContainersWithoutRestartingThem) {
  auto r = healthyWeb(2);
  int creates = runtime_.callsForTest("create");
  r.reset();
  auto again = makeReconciler();
  ticks(*again, 3);
  EXPECT_EQ(runtime_.callsForTest("create"), creates);
  EXPECT_EQ(runtime_.callsForTest("stop"), 0);
  EXPECT_EQ(app(again->report(), "web")->phase, "healthy");
}

TEST_F(ReconcilerTest, ACrashBetweenCreateAndStartIsFinishedWithoutADuplicate) {
  c1_ = source_.addCommit(specFiles(webYaml(1, "one")));
  auto r = makeReconciler();
  runtime_.failNextForTest("start", Error{ErrorCode::kUnavailable, "node killed", true});
  ticks(*r);
  ASSERT_EQ(count(ContainerState::kCreated), 1);
  // The journal entry a kill -9 leaves open:
  ASSERT_TRUE(store_.journalBegin(JournalEntry{0, "create", "web", mine()[0].name, "", "intent", clock_.now(), {}}));
  r.reset();
  auto again = makeReconciler();
  ticks(*again);
  EXPECT_EQ(mine().size(), 1u);
  EXPECT_EQ(count(ContainerState::kRunning), 1);
  auto events = store_.events(0, 1000);
  EXPECT_TRUE(std::any_of(events->begin(), events->end(), [](const Event& e) { return e.kind == "journal.interrupted"; }));
  EXPECT_TRUE(store_.journalOpen()->empty());
}

TEST_F(ReconcilerTest, AFailedBuildKeepsTheLastGoodVersionAndShowsTheOutput) {
  auto r = healthyWeb(1);
  MapTree::Files files = specFiles(webYaml(1, "one"));
  files.insert_or_assign("web/Dockerfile", MapFile("FROM shoal/busybox:local\nRUN false\n"));
  std::string c2 = source_.addCommit(files);
  auto tree = source_.open(c2);
  AppSpec spec;
  spec.name = "web";
  spec.build = BuildSpec{"web", "Dockerfile", {}};
  runtime_.setBuildFailureForTest(buildTag(spec, *(*tree)->treeId("web")), "Step 2/2 : RUN false\nboom");
  std::string before = mine()[0].id;
  ticks(*r, 3);
  Report rep = r->report();
  const AppReport* web = app(rep, "web");
  EXPECT_NE(web->build_error.find("boom"), std::string::npos) << web->build_error;
  ASSERT_EQ(mine().size(), 1u);
  EXPECT_EQ(mine()[0].id, before);
  EXPECT_NE(source_.notes()[c2].find("build_failed"), std::string::npos);
}

TEST_F(ReconcilerTest, AFullDiskStopsStepsBeforeTheyTouchDocker) {
  c1_ = source_.addCommit(specFiles(webYaml(2, "one")));
  auto r = makeReconciler();
  store_.setFailWritesForTest(Error{ErrorCode::kIo, "state.db: disk full while writing journal", true});
  ticks(*r, 2);
  EXPECT_EQ(runtime_.callsForTest("create"), 0) << "no step without its journal entry";
  EXPECT_FALSE(r->report().last_errors.empty());
  store_.setFailWritesForTest(std::nullopt);
  ticks(*r);
  EXPECT_EQ(mine().size(), 2u);
}

TEST_F(ReconcilerTest, AShuttingDownNodeTakesNoNewStep) {
  c1_ = source_.addCommit(specFiles(webYaml(3, "one")));
  std::stop_source shutdown;
  ReconcilerOptions o;
  o.stop = shutdown.get_token();
  Reconciler r(source_, runtime_, builder_, store_, cluster_, clock_, o);
  ASSERT_TRUE(r.start());
  shutdown.request_stop();
  ticks(r, 2);
  EXPECT_EQ(runtime_.callsForTest("create"), 0);
  EXPECT_TRUE(store_.journalOpen()->empty());
}

TEST_F(ReconcilerTest, DependenciesStartFirst) {
  MapTree::Files files = specFiles(webYaml(1, "one", "depends_on: [db]\n"));
  files.insert_or_assign("apps/db.yaml", MapFile("image: shoal/busybox:local\ncommand: sleep 1000\nhealth:\n  cmd: [\"true\"]\n"));
  source_.addCommit(files);
  auto r = makeReconciler();
  ticks(*r);
  auto cs = mine();
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].labels.at(kLabelApp), "db");
  EXPECT_EQ(app(r->report(), "web")->phase, "waiting");
  healthAll(Health::kHealthy);
  ticks(*r, 2);
  EXPECT_EQ(mine().size(), 2u);
}

// A role-bound app `edge` (role ingress) and a placed app `web`, each with a named volume.
MapTree::Files roleFiles(const std::string& edge_volumes = "[\"edge-data:/data\"]",
                         const std::string& web_volumes = "[\"web-data:/data\"]") {
  std::string cluster = std::string(kCluster) + "roles:\n  ingress:\n    count: 1\n";
  return {{"cluster.yaml", MapFile(cluster.c_str())},
          {"apps/edge.yaml", MapFile(("image: shoal/busybox:local\nrole: ingress\nvolumes: " + edge_volumes + "\n").c_str())},
          {"apps/web.yaml", MapFile(("image: shoal/busybox:local\nvolumes: " + web_volumes + "\n").c_str())}};
}

class RoleDataTest : public ReconcilerTest {
 protected:
  std::multiset<std::string> apps() {
    std::multiset<std::string> out;
    for (const ContainerInfo& c : mine()) out.insert(c.labels.at(kLabelApp));
    return out;
  }
  std::vector<Event> events(const std::string& kind) {
    auto all = store_.events(0, 1000);
    std::vector<Event> out;
    for (const Event& e : *all)
      if (e.kind == kind) out.push_back(e);
    return out;
  }
};

TEST_F(RoleDataTest, ReleasingARoleRemovesItsAppsVolumesOnceAndOtherAppsKeepTheirs) {
  cluster_.setPlaced("edge", 1);
  cluster_.setPlaced("web", 1);
  source_.addCommit(roleFiles());
  auto r = makeReconciler();
  ticks(*r, 3);
  ASSERT_EQ(apps(), (std::multiset<std::string>{"edge", "web"}));
  ASSERT_EQ(runtime_.volumesForTest(), (std::set<std::string>{"edge-data", "web-data"}));

  // The leader moves the role, and web, to other nodes.
  cluster_.setPlaced("edge", 0);
  cluster_.setPlaced("web", 0);
  ticks(*r, 3);
  EXPECT_TRUE(mine().empty());
  EXPECT_EQ(runtime_.volumesForTest(), (std::set<std::string>{"web-data"})) << "only the role's data goes";
  auto released = events("role.released");
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].app, "edge");
  EXPECT_EQ(released[0].level, "info");
  EXPECT_EQ(released[0].message, "ingress released: removed volumes edge-data");
  ticks(*r, 5);
  EXPECT_EQ(runtime_.callsForTest("removeVolume"), 1) << "removed once, not at every tick";
  EXPECT_EQ(events("role.released").size(), 1u);

  // Taken again: the container comes back on a fresh volume (Docker makes it on first use), and a
  // second release removes that one too.
  cluster_.setPlaced("edge", 1);
  ticks(*r, 3);
  EXPECT_EQ(apps(), (std::multiset<std::string>{"edge"}));
  EXPECT_TRUE(runtime_.volumesForTest().contains("edge-data"));
  cluster_.setPlaced("edge", 0);
  ticks(*r, 3);
  EXPECT_FALSE(runtime_.volumesForTest().contains("edge-data"));
  EXPECT_EQ(events("role.released").size(), 2u);
  EXPECT_EQ(runtime_.callsForTest("removeVolume"), 2);
}

TEST_F(RoleDataTest, ANodeThatNeverHeldTheRoleRemovesNothingAndAnUnplacedAppIsLeftAlone) {
  cluster_.setPlaced("edge", 0);  // web is not placed yet: held as it is
  source_.addCommit(roleFiles());
  auto r = makeReconciler();
  ticks(*r, 4);
  EXPECT_TRUE(mine().empty());
  EXPECT_EQ(runtime_.callsForTest("removeVolume"), 0);
  EXPECT_TRUE(events("role.released").empty());
  bool shown = false;
  for (const auto& a : r->report().apps) {
    if (a.name != "web") continue;
    shown = true;
    EXPECT_EQ(a.phase, "held");
    EXPECT_EQ(a.message, "not placed by the cluster's leader yet (or this node can't reach the store); "
                         "containers left as they are");
  }
  EXPECT_TRUE(shown) << "the status says why web is held";
}

TEST_F(RoleDataTest, AVolumeInUseIsReportedOnceAndRemovedWhenItIsFree) {
  cluster_.setPlaced("edge", 1);
  cluster_.setPlaced("web", 1);
  source_.addCommit(roleFiles());
  auto r = makeReconciler();
  ticks(*r, 3);
  // Someone's own container (not shoal's) mounts the role's volume.
  ContainerConfig debug;
  debug.name = "debug-shell";
  debug.image = "shoal/busybox:local";
  debug.volumes = {{"edge-data", "/mnt", true}};
  auto other = runtime_.create(debug);
  ASSERT_TRUE(other);
  cluster_.setPlaced("edge", 0);
  ticks(*r, 4);
  EXPECT_EQ(apps(), (std::multiset<std::string>{"web"}));
  EXPECT_TRUE(runtime_.volumesForTest().contains("edge-data"));
  auto failed = events("role.release_failed");
  ASSERT_EQ(failed.size(), 1u) << "reported when it first fails, not at every tick";
  EXPECT_NE(failed[0].message.find("ingress released, but its data stays for now"), std::string::npos)
      << failed[0].message;
  EXPECT_NE(failed[0].message.find("volume is in use"), std::string::npos) << failed[0].message;
  EXPECT_TRUE(events("role.released").empty());
  ASSERT_TRUE(runtime_.remove(*other, true));
  ticks(*r, 2);
  EXPECT_FALSE(runtime_.volumesForTest().contains("edge-data"));
  EXPECT_EQ(events("role.released").size(), 1u);
}

TEST_F(RoleDataTest, ANodeRestartedBeforeTheVolumesWentRemovesThemThen) {
  cluster_.setPlaced("edge", 1);
  cluster_.setPlaced("web", 1);
  source_.addCommit(roleFiles());
  auto r = makeReconciler();
  ticks(*r, 3);
  // The containers go; removing the volume fails (dockerd restarting), and then the node restarts.
  runtime_.failNextForTest("removeVolume", Error{ErrorCode::kUnavailable, "docker: daemon restarting", true});
  cluster_.setPlaced("edge", 0);
  ticks(*r);
  ASSERT_EQ(apps(), (std::multiset<std::string>{"web"}));
  ASSERT_TRUE(runtime_.volumesForTest().contains("edge-data"));
  r.reset();
  auto again = makeReconciler();
  ticks(*again, 2);
  EXPECT_FALSE(runtime_.volumesForTest().contains("edge-data"));
  EXPECT_EQ(events("role.released").size(), 1u);
}

TEST_F(RoleDataTest, AVolumeAnotherAppStillUsesIsKept) {
  cluster_.setPlaced("edge", 1);
  cluster_.setPlaced("web", 1);
  source_.addCommit(roleFiles("[\"edge-data:/data\", \"shared:/shared\"]", "[\"shared:/shared:ro\"]"));
  auto r = makeReconciler();
  ticks(*r, 3);
  cluster_.setPlaced("edge", 0);
  ticks(*r, 3);
  EXPECT_EQ(runtime_.volumesForTest(), (std::set<std::string>{"shared"}));
  auto released = events("role.released");
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].message, "ingress released: removed volumes edge-data; kept shared (also used by web)");
}

}  // namespace
}  // namespace shoal
