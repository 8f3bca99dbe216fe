// Table tests of the pure diff: desired + observed -> steps. No Docker, no clock but a fixed `now`.
#include "reconcile/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

namespace shoal {
namespace {

const TimePoint kNow = fromUnixMs(1767225600000);
const std::string kNode = "a1b2c3d4e5f60718";

DesiredApp app(const std::string& name, int replicas, const std::string& env_value = "1") {
  AppSpec spec;
  spec.name = name;
  spec.replicas = replicas;
  spec.env["V"] = env_value;
  DesiredApp d;
  d.name = name;
  d.config = containerConfigFor(spec, "img:1", "c", kNode, "commit1");
  d.hash = d.config.labels[kLabelSpec];
  d.replicas = replicas;
  d.commit = "commit1";
  return d;
}

Desired desiredOf(std::vector<DesiredApp> apps, Activation activation = Activation::kRun) {
  Desired d;
  d.cluster = "c";
  d.node_id = kNode;
  d.activation = activation;
  d.apps = std::move(apps);
  return d;
}

int g_next_id = 0;
ContainerInfo container(const DesiredApp& a, ContainerState state, Health health, int index,
                        Duration age = Duration(5000)) {
  ContainerInfo c;
  c.id = "id" + std::to_string(++g_next_id);
  c.name = replicaName(a.name, a.hash, kNode, index);
  c.labels = a.config.labels;
  c.state = state;
  c.health = health;
  c.created = kNow - age;
  c.started = kNow - age;
  return c;
}
ContainerInfo ready(const DesiredApp& a, int index) { return container(a, ContainerState::kRunning, Health::kHealthy, index); }

int count(const Plan& p, StepKind k) {
  return static_cast<int>(std::count_if(p.steps.begin(), p.steps.end(), [k](const Step& s) { return s.kind == k; }));
}

TEST(PlanTest, NewAppCreatesEveryReplicaWithDeterministicNames) {
  DesiredApp web = app("web", 3);
  Plan p = diff(desiredOf({web}), {}, kNow);
  ASSERT_EQ(count(p, StepKind::kCreate), 3);
  EXPECT_EQ(p.steps[0].container, "shoal-web-" + web.hash.substr(0, 8) + "-a1b2c3-0");
  EXPECT_EQ(p.steps[2].container, "shoal-web-" + web.hash.substr(0, 8) + "-a1b2c3-2");
  EXPECT_EQ(p.steps[0].reason, "new app");
  EXPECT_EQ(p.apps[0].phase, AppPhase::kConverging);
  EXPECT_FALSE(p.converged());
}

TEST(PlanTest, RunningContainersAreAdoptedWithoutAnyStep) {
  DesiredApp web = app("web", 2);
  web.good_hash = web.hash;
  Plan p = diff(desiredOf({web}), {ready(web, 0), ready(web, 1)}, kNow);
  EXPECT_TRUE(p.steps.empty());
  EXPECT_EQ(p.apps[0].phase, AppPhase::kHealthy);
  EXPECT_TRUE(p.converged());
}

TEST(PlanTest, AFirstHealthyVersionIsMarkedGoodOnce) {
  DesiredApp web = app("web", 1);
  Plan p = diff(desiredOf({web}), {ready(web, 0)}, kNow);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kMarkGood);
}

TEST(PlanTest, RollingUpdateSurgesOneThenReplacesOnlyWhenTheNewOneIsReady) {
  DesiredApp v1 = app("web", 3, "1");
  DesiredApp v2 = app("web", 3, "2");
  v2.good_hash = v1.hash;
  std::vector<ContainerInfo> obs = {ready(v1, 0), ready(v1, 1), ready(v1, 2)};
  Plan p = diff(desiredOf({v2}), obs, kNow);
  EXPECT_EQ(count(p, StepKind::kCreate), 1);
  EXPECT_EQ(count(p, StepKind::kRemove), 0);
  EXPECT_EQ(p.steps[0].reason, "rolling update");

  obs.push_back(container(v2, ContainerState::kRunning, Health::kStarting, 0, Duration(1000)));
  p = diff(desiredOf({v2}), obs, kNow);
  EXPECT_TRUE(p.steps.empty()) << "nothing may go while the new replica is not ready";

  obs.back().health = Health::kHealthy;
  p = diff(desiredOf({v2}), obs, kNow);
  EXPECT_EQ(count(p, StepKind::kRemove), 1);
  EXPECT_EQ(count(p, StepKind::kCreate), 1);
}

TEST(PlanTest, FixedHostPortUpdateStopsTheOldOneFirst) {
  DesiredApp v1 = app("web", 1, "1");
  DesiredApp v2 = app("web", 1, "2");
  v2.update = {0, 1};
  Plan p = diff(desiredOf({v2}), {ready(v1, 0)}, kNow);
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kRemove);
  EXPECT_EQ(p.steps[1].kind, StepKind::kCreate);
}

TEST(PlanTest, ScaleUpAndChangeTogetherNeverDropsTheOldBeforeNewOnesAreReady) {
  DesiredApp v1 = app("web", 1, "1");
  DesiredApp v2 = app("web", 3, "2");
  Plan p = diff(desiredOf({v2}), {ready(v1, 0)}, kNow);
  EXPECT_EQ(count(p, StepKind::kCreate), 3);
  EXPECT_EQ(count(p, StepKind::kRemove), 0);
}

TEST(PlanTest, UnhealthyNewVersionWithAGoodOneIsMarkedFailedAndNothingElse) {
  DesiredApp v1 = app("web", 2, "1");
  DesiredApp v2 = app("web", 2, "2");
  v2.good_hash = v1.hash;
  v2.health_description = "GET http://127.0.0.1:80/";
  Plan p = diff(desiredOf({v2}),
                {ready(v1, 0), ready(v1, 1), container(v2, ContainerState::kRunning, Health::kUnhealthy, 0)}, kNow);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kMarkFailed);
  EXPECT_EQ(p.steps[0].hash, v2.hash);
  EXPECT_EQ(p.steps[0].reason, "health check `GET http://127.0.0.1:80/` failed on " + replicaName("web", v2.hash, kNode, 0));
  EXPECT_EQ(p.apps[0].phase, AppPhase::kFailing);
}

TEST(PlanTest, NotReadyByTheDeadlineCountsAsFailing) {
  DesiredApp v1 = app("web", 1, "1");
  DesiredApp v2 = app("web", 1, "2");
  v2.good_hash = v1.hash;
  v2.health_deadline = Duration(30000);
  auto slow = container(v2, ContainerState::kRunning, Health::kStarting, 0, Duration(31000));
  EXPECT_EQ(replicaPhase(slow, v2.health_deadline, kNow), ReplicaPhase::kFailing);
  Plan p = diff(desiredOf({v2}), {ready(v1, 0), slow}, kNow);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kMarkFailed);
  EXPECT_NE(p.steps[0].reason.find("not ready within 30s"), std::string::npos) << p.steps[0].reason;
}

TEST(PlanTest, AStartingReplicaWithAnUnknownStartTimeIsNotFailing) {
  DesiredApp v = app("web", 1);
  auto c = container(v, ContainerState::kRunning, Health::kStarting, 0, Duration(600000));
  c.started = TimePoint{};  // Docker's list doesn't carry it; created long ago (a daemon restart)
  EXPECT_EQ(replicaPhase(c, v.health_deadline, kNow), ReplicaPhase::kStarting);
}

TEST(PlanTest, OldReplicasStillStartingStayUntilTheNewVersionIsReady) {
  DesiredApp v1 = app("web", 2, "1");
  DesiredApp v2 = app("web", 2, "2");
  v2.good_hash = v1.hash;
  // After a daemon restart every container is starting again.
  std::vector<ContainerInfo> obs = {container(v1, ContainerState::kRunning, Health::kStarting, 0, Duration(100)),
                                    container(v1, ContainerState::kPaused, Health::kHealthy, 1)};
  Plan p = diff(desiredOf({v2}), obs, kNow);
  EXPECT_EQ(count(p, StepKind::kRemove), 0);
  EXPECT_EQ(count(p, StepKind::kUnpause), 1);
  EXPECT_EQ(count(p, StepKind::kCreate), 1) << "only the surge replica";
}

TEST(PlanTest, ACrashedReplicaOfANewVersionIsARollbackButOurOwnStopIsNot) {
  DesiredApp v1 = app("web", 1, "1");
  DesiredApp v2 = app("web", 1, "2");
  v2.good_hash = v1.hash;
  auto crashed = container(v2, ContainerState::kExited, Health::kNone, 0);
  crashed.exit_code = 1;
  Plan p = diff(desiredOf({v2}), {ready(v1, 0), crashed}, kNow);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kMarkFailed);
  EXPECT_EQ(p.steps[0].reason, crashed.name + " exited with code 1");
  crashed.exit_code = 143;
  p = diff(desiredOf({v2}), {ready(v1, 0), crashed}, kNow);
  EXPECT_EQ(count(p, StepKind::kMarkFailed), 0);
  EXPECT_EQ(count(p, StepKind::kStart), 1);
}

TEST(PlanTest, AFailingVersionWithNothingToRollBackToIsReportedNotRemoved) {
  DesiredApp v1 = app("web", 1);
  Plan p = diff(desiredOf({v1}), {container(v1, ContainerState::kRunning, Health::kUnhealthy, 0)}, kNow);
  EXPECT_EQ(count(p, StepKind::kMarkFailed), 0);
  EXPECT_EQ(count(p, StepKind::kRemove), 0);
  EXPECT_EQ(p.apps[0].phase, AppPhase::kFailing);
}

TEST(PlanTest, RolledBackVersionRemovesTheFailedContainers) {
  DesiredApp v1 = app("web", 1, "1");
  DesiredApp v2 = app("web", 1, "2");
  v1.good_hash = v1.hash;
  v1.rolled_back = true;
  Plan p = diff(desiredOf({v1}), {ready(v1, 0), container(v2, ContainerState::kRunning, Health::kUnhealthy, 0)}, kNow);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kRemove);
  EXPECT_EQ(p.apps[0].phase, AppPhase::kConverging);
}

TEST(PlanTest, AppsNoLongerInTheSpecArePrunedButHeldAppsAreNot) {
  DesiredApp web = app("web", 1);
  DesiredApp old = app("old", 2);
  DesiredApp held = app("held", 1);
  Desired d = desiredOf({web});
  d.held = {"held"};
  Plan p = diff(d, {ready(web, 0), ready(old, 0), ready(old, 1), ready(held, 0)}, kNow);
  EXPECT_EQ(count(p, StepKind::kRemove), 2);
  for (const Step& s : p.steps) {
    if (s.kind == StepKind::kRemove) {
      EXPECT_EQ(s.app, "old");
    }
  }
  EXPECT_EQ(p.apps.back().phase, AppPhase::kRemoved);
}

TEST(PlanTest, BelowMinNodesPausesStopsOrKeeps) {
  DesiredApp web = app("web", 2);
  std::vector<ContainerInfo> obs = {ready(web, 0), ready(web, 1)};
  Plan pause = diff(desiredOf({web}, Activation::kPause), obs, kNow);
  EXPECT_EQ(count(pause, StepKind::kPause), 2);
  EXPECT_EQ(pause.apps[0].phase, AppPhase::kPaused);
  Plan stop = diff(desiredOf({web}, Activation::kStop), obs, kNow);
  EXPECT_EQ(count(stop, StepKind::kStop), 2);
  Plan keep = diff(desiredOf({web}, Activation::kKeep), obs, kNow);
  EXPECT_TRUE(keep.steps.empty());
  Plan none = diff(desiredOf({web}, Activation::kPause), {}, kNow);
  EXPECT_EQ(count(none, StepKind::kCreate), 0) << "nothing starts below min_nodes";
}

TEST(PlanTest, BackAboveMinNodesResumes) {
  DesiredApp web = app("web", 2);
  Plan p = diff(desiredOf({web}), {container(web, ContainerState::kPaused, Health::kHealthy, 0),
                                   container(web, ContainerState::kExited, Health::kNone, 1)}, kNow);
  EXPECT_EQ(count(p, StepKind::kUnpause), 1);
  EXPECT_EQ(count(p, StepKind::kStart), 1);
  EXPECT_EQ(count(p, StepKind::kCreate), 0);
}

TEST(PlanTest, ACreatedButNeverStartedReplicaIsStartedNotDuplicated) {
  DesiredApp web = app("web", 1);
  Plan p = diff(desiredOf({web}), {container(web, ContainerState::kCreated, Health::kNone, 0)}, kNow);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, StepKind::kStart);
}

TEST(PlanTest, DependentsWaitForTheirDependencies) {
  DesiredApp db = app("db", 1);
  DesiredApp web = app("web", 1);
  web.depends_on = {"db"};
  Plan p = diff(desiredOf({db, web}), {}, kNow);
  EXPECT_EQ(count(p, StepKind::kCreate), 1);
  EXPECT_EQ(p.steps[0].app, "db");
  EXPECT_EQ(p.apps[1].phase, AppPhase::kWaiting);
  EXPECT_EQ(p.apps[1].message, "waiting for db");
  db.good_hash = db.hash;
  p = diff(desiredOf({db, web}), {ready(db, 0)}, kNow);
  ASSERT_EQ(count(p, StepKind::kCreate), 1);
  EXPECT_EQ(p.steps[0].app, "web");
}

TEST(PlanTest, ScaleDownRemovesNotReadyReplicasFirst) {
  DesiredApp web = app("web", 1);
  web.good_hash = web.hash;
  Plan p = diff(desiredOf({web}), {ready(web, 0), ready(web, 1),
                                   container(web, ContainerState::kRunning, Health::kStarting, 2, Duration(100))},
                kNow);
  ASSERT_EQ(count(p, StepKind::kRemove), 2);
  EXPECT_EQ(p.steps[0].container, "id" + std::to_string(g_next_id));  // the starting one goes first
}

TEST(PlanTest, ReplicaNamesReuseTheFirstFreeIndex) {
  DesiredApp web = app("web", 3);
  Plan p = diff(desiredOf({web}), {ready(web, 1)}, kNow);
  ASSERT_EQ(count(p, StepKind::kCreate), 2);
  EXPECT_EQ(p.steps[0].container, replicaName("web", web.hash, kNode, 0));
  EXPECT_EQ(p.steps[1].container, replicaName("web", web.hash, kNode, 2));
}

TEST(PlanTest, ActivationFollowsMinNodesAndBelowMin) {
  ClusterSpec c;
  c.min_nodes = 2;
  c.below_min = BelowMin::kStop;
  EXPECT_EQ(activationFor(c, 1), Activation::kStop);
  EXPECT_EQ(activationFor(c, 2), Activation::kRun);
  c.below_min = BelowMin::kPause;
  EXPECT_EQ(activationFor(c, 1), Activation::kPause);
  c.below_min = BelowMin::kKeep;
  EXPECT_EQ(activationFor(c, 1), Activation::kKeep);
}

TEST(PlanTest, SpecHashIgnoresTheCommitButNotTheEnv) {
  AppSpec spec;
  spec.name = "web";
  auto a = containerConfigFor(spec, "img", "c", kNode, "commit1");
  auto b = containerConfigFor(spec, "img", "c", kNode, "commit2");
  spec.env["X"] = "1";
  auto c = containerConfigFor(spec, "img", "c", kNode, "commit1");
  EXPECT_EQ(a.labels[kLabelSpec], b.labels[kLabelSpec]);
  EXPECT_NE(a.labels[kLabelSpec], c.labels[kLabelSpec]);
  EXPECT_EQ(a.labels[kLabelSpec].size(), 16u);
}

TEST(PlanTest, DesiredAppSurvivesTheStoreAsJson) {
  DesiredApp web = app("web", 3);
  web.config.health = Healthcheck{{"wget", "-q", "http://127.0.0.1/"}, Duration(1000), Duration(500), Duration(0), 2};
  web.config.ports.push_back({80, "tcp", "", "8080-8089"});
  web.config.volumes.push_back({"data", "/data", true});
  web.placement = Placement::kEveryNode;
  auto back = desiredAppFromJson(desiredAppToJson(web));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->config, web.config);
  EXPECT_EQ(back->hash, web.hash);
  EXPECT_EQ(back->replicas, 3);
  EXPECT_EQ(back->placement, Placement::kEveryNode);
  EXPECT_FALSE(desiredAppFromJson("{not json").has_value());
}

// A record stored before `placement` existed reads as an origin app; an unknown one is refused.
TEST(PlanTest, StoredAppRecordPlacement) {
  auto j = nlohmann::json::parse(desiredAppToJson(app("web", 1)));
  EXPECT_EQ(j.at("placement"), "origin");
  j.erase("placement");
  auto old = desiredAppFromJson(j.dump());
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->placement, Placement::kOrigin);
  j["placement"] = "somewhere";
  auto bad = desiredAppFromJson(j.dump());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, "stored app record has an unknown placement \"somewhere\"");
}

TEST(PlanTest, PlacementIsNotPartOfTheSpecHash) {
  AppSpec spec;
  spec.name = "web";
  auto a = containerConfigFor(spec, "img", "c", kNode, "commit1");
  spec.placement = Placement::kEveryNode;
  auto b = containerConfigFor(spec, "img", "c", kNode, "commit1");
  EXPECT_EQ(a.labels[kLabelSpec], b.labels[kLabelSpec]);
}

// Randomized: containers get ready after a random number of ticks; the plan is applied at once.
// Invariant: once the app has `n` ready replicas, it never has fewer than n - max_unavailable.
TEST(PlanTest, RandomizedRollingUpdatesKeepAvailability) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    int n = 1 + static_cast<int>(rng() % 5);
    DesiredApp v = app("web", n, "0");
    v.update = {static_cast<int>(rng() % 3), static_cast<int>(rng() % 2)};
    if (v.update.max_surge == 0 && v.update.max_unavailable == 0) v.update.max_surge = 1;
    std::vector<ContainerInfo> obs;
    for (int i = 0; i < n; ++i) obs.push_back(ready(v, i));
    std::map<std::string, int> ticks_to_ready;
    for (int version = 1; version <= 3; ++version) {
      DesiredApp next = app("web", n, std::to_string(version));
      next.update = v.update;
      for (int tick = 0; tick < 200; ++tick) {
        Plan p = diff(desiredOf({next}), obs, kNow);
        for (const Step& s : p.steps) {
          if (s.kind == StepKind::kRemove) {
            std::erase_if(obs, [&](const ContainerInfo& c) { return c.id == s.container; });
          } else if (s.kind == StepKind::kCreate) {
            ContainerInfo c = container(next, ContainerState::kRunning, Health::kStarting, 0, Duration(0));
            c.name = s.container;
            ticks_to_ready[c.id] = static_cast<int>(rng() % 4);
            obs.push_back(c);
          }
        }
        for (ContainerInfo& c : obs)
          if (c.health == Health::kStarting && ticks_to_ready[c.id]-- <= 0) c.health = Health::kHealthy;
        int ready_count = static_cast<int>(std::count_if(obs.begin(), obs.end(), [](const ContainerInfo& c) {
          return c.health == Health::kHealthy;
        }));
        ASSERT_GE(ready_count, n - next.update.max_unavailable) << "seed " << seed << " tick " << tick;
        ASSERT_LE(static_cast<int>(obs.size()), n + next.update.max_surge) << "seed " << seed;
      }
      Plan settled = diff(desiredOf({next}), obs, kNow);
      ASSERT_EQ(static_cast<int>(obs.size()), n) << "seed " << seed;
      for (const ContainerInfo& c : obs) ASSERT_EQ(c.labels.at(kLabelSpec), next.hash) << "seed " << seed;
    }
  }
}

}  // namespace
}  // namespace shoal
