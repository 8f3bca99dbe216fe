#include "runtime/fake_runtime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>

namespace shoal {
namespace {

class FakeRuntimeTest : public ::testing::Test {
 protected:
  FakeRuntimeTest() : rt_(clock_) { rt_.addImageForTest("app:1"); }

  ContainerConfig config(const std::string& name, bool health = false) {
    ContainerConfig c;
    c.name = name;
    c.image = "app:1";
    c.labels = {{"shoal.app", "web"}};
    if (health) c.health = Healthcheck{{"true"}};
    return c;
  }

  std::string running(const std::string& name, bool health = false) {
    auto id = rt_.create(config(name, health));
    EXPECT_TRUE(id) << id.error().str();
    EXPECT_TRUE(rt_.start(*id));
    return *id;
  }

  FakeClock clock_;
  FakeRuntime rt_;
};

TEST_F(FakeRuntimeTest, CreateStartInspectWithClockTimes) {
  auto id = rt_.create(config("web-1", true));
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 64u);
  auto c = rt_.inspect("web-1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, *id);
  EXPECT_EQ(c->state, ContainerState::kCreated);
  EXPECT_EQ(c->health, Health::kStarting);
  EXPECT_EQ(c->created, clock_.now());
  EXPECT_EQ(c->started, TimePoint{});
  clock_.advance(Duration(1500));
  ASSERT_TRUE(rt_.start(*id));
  c = rt_.inspect(id->substr(0, 12));  // an id prefix works, as in Docker
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, ContainerState::kRunning);
  EXPECT_EQ(c->started, clock_.now());
  EXPECT_TRUE(rt_.start(*id));  // already running: Docker's 304, not an error
}

// runtime: sim: a check answers healthy once the container ran its interval plus
// SHOAL_SIM_HEALTHY_AFTER; unless simulated, health changes only by the knob.
TEST_F(FakeRuntimeTest, SimulatedHealthChecksTurnHealthyAfterTheirDelay) {
  ContainerConfig c = config("web-1", true);
  c.health->interval = Duration(500);
  c.env["SHOAL_SIM_HEALTHY_AFTER"] = "4s";
  auto id = rt_.create(c);
  ASSERT_TRUE(id);
  ASSERT_TRUE(rt_.start(*id));
  std::string plain = running("web-2", true);
  clock_.advance(Duration(10000));
  EXPECT_EQ(rt_.inspect(*id)->health, Health::kStarting) << "not simulated: the knob decides";
  rt_.simulateHealthChecks(true);
  ASSERT_TRUE(rt_.stop(*id, Duration(0)));
  ASSERT_TRUE(rt_.start(*id));
  clock_.advance(Duration(4499));
  EXPECT_EQ(rt_.inspect(*id)->health, Health::kStarting);
  EXPECT_EQ(rt_.inspect(plain)->health, Health::kHealthy);  // its interval (2 s) passed
  clock_.advance(Duration(1));
  auto listed = rt_.list({{"shoal.app", "web"}});
  ASSERT_TRUE(listed);
  for (const auto& info : *listed) EXPECT_EQ(info.health, Health::kHealthy) << info.name;
}

TEST_F(FakeRuntimeTest, NoHealthcheckMeansNoHealth) {
  std::string id = running("web-1");
  EXPECT_EQ(rt_.inspect(id)->health, Health::kNone);
}

TEST_F(FakeRuntimeTest, IdsAreDeterministic) {
  FakeClock other_clock;
  FakeRuntime other(other_clock);
  EXPECT_EQ(*rt_.create(config("a")), *other.create(config("a")));
}

TEST_F(FakeRuntimeTest, CreateOfAnExistingNameIsAConflict) {
  running("web-1");
  auto again = rt_.create(config("web-1"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("is already in use"), std::string::npos);
}

TEST_F(FakeRuntimeTest, StartWithoutItsImageFails) {
  ContainerConfig c = config("x");
  c.image = "missing:1";
  auto id = rt_.create(c);
  ASSERT_TRUE(id);
  auto st = rt_.start(*id);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_NE(st.error().message.find("No such image: missing:1"), std::string::npos);
}

TEST_F(FakeRuntimeTest, ListFiltersByAllLabelsNewestFirst) {
  running("a");
  ContainerConfig other = config("b");
  other.labels = {{"shoal.app", "db"}};
  ASSERT_TRUE(rt_.create(other));
  running("c");
  auto web = rt_.list({{"shoal.app", "web"}});
  ASSERT_TRUE(web);
  ASSERT_EQ(web->size(), 2u);
  EXPECT_EQ((*web)[0].name, "c");
  EXPECT_EQ((*web)[1].name, "a");
  EXPECT_EQ(rt_.list({})->size(), 3u);
  EXPECT_TRUE(rt_.list({{"shoal.app", "web"}, {"shoal.node", "n1"}})->empty());
}

TEST_F(FakeRuntimeTest, WrongStateTransitionsUseDockersWords) {
  std::string id = running("web-1");
  ASSERT_TRUE(rt_.stop(id, Duration(1000)));
  EXPECT_TRUE(rt_.stop(id, Duration(1000)));  // stopped already: fine
  auto p = rt_.pause(id);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kConflict);
  EXPECT_NE(p.error().message.find("Container " + id + " is not running"), std::string::npos);
  auto u = rt_.unpause(id);
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("is not paused"), std::string::npos);
  ASSERT_TRUE(rt_.start(id));
  ASSERT_TRUE(rt_.pause(id));
  EXPECT_EQ(rt_.inspect(id)->state, ContainerState::kPaused);
  EXPECT_NE(rt_.pause(id).error().message.find("is already paused"), std::string::npos);
  EXPECT_NE(rt_.start(id).error().message.find("cannot start a paused container"), std::string::npos);
  EXPECT_EQ(rt_.remove(id, false).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(rt_.unpause(id));
  EXPECT_EQ(rt_.remove(id, false).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(rt_.remove(id, true));
  auto gone = rt_.remove(id, true);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(rt_.inspect(id).error().code, ErrorCode::kNotFound);
}

TEST_F(FakeRuntimeTest, StopRecordsSigtermExitAndUnhealthy) {
  std::string id = running("web-1", true);
  rt_.setHealthForTest(id, Health::kHealthy);
  ASSERT_TRUE(rt_.stop(id, Duration(1000)));
  auto c = rt_.inspect(id);
  EXPECT_EQ(c->state, ContainerState::kExited);
  EXPECT_EQ(c->exit_code, 143);
  EXPECT_EQ(c->health, Health::kUnhealthy);  // what Docker reports after a stop
}

TEST_F(FakeRuntimeTest, PortRangesTakeTheFirstFreePortAndFixedPortsCollide) {
  ContainerConfig a = config("a");
  a.ports = {{80, "tcp", "", "8080-8081"}};
  ContainerConfig b = a;
  b.name = "b";
  for (auto* c : {&a, &b}) ASSERT_TRUE(rt_.start(*rt_.create(*c)));
  EXPECT_EQ(rt_.inspect("a")->ports.at(0).host_port, 8080);
  EXPECT_EQ(rt_.inspect("b")->ports.at(0).host_port, 8081);
  ContainerConfig fixed = config("fixed");
  fixed.ports = {{80, "tcp", "", "8080"}};
  auto st = rt_.start(*rt_.create(fixed));
  ASSERT_FALSE(st);
  EXPECT_TRUE(st.error().retryable);
  EXPECT_NE(st.error().message.find("port is already allocated"), std::string::npos);
  ASSERT_TRUE(rt_.stop("a", Duration(0)));
  EXPECT_TRUE(rt_.inspect("a")->ports.empty());
  EXPECT_TRUE(rt_.start("fixed"));
}

TEST_F(FakeRuntimeTest, KnobsCrashRemoveHealth) {
  std::string id = running("web-1", true);
  rt_.setHealthForTest(id, Health::kHealthy);
  EXPECT_EQ(rt_.inspect(id)->health, Health::kHealthy);
  rt_.exitForTest(id, 137);
  auto c = rt_.inspect(id);
  EXPECT_EQ(c->state, ContainerState::kExited);
  EXPECT_EQ(c->exit_code, 137);
  rt_.removeForTest(id);
  EXPECT_EQ(rt_.inspect(id).error().code, ErrorCode::kNotFound);
}

TEST_F(FakeRuntimeTest, FailNextFailsOnceAndCallsAreCounted) {
  rt_.failNextForTest("create", Error{ErrorCode::kUnavailable, "docker: down", true});
  auto first = rt_.create(config("a"));
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().message, "docker: down");
  EXPECT_TRUE(rt_.create(config("a")));
  EXPECT_EQ(rt_.callsForTest("create"), 2);
  EXPECT_EQ(rt_.callsForTest("start"), 0);
}

TEST_F(FakeRuntimeTest, AVolumeExistsOnceAContainerMountingItIsCreated) {
  EXPECT_TRUE(rt_.volumesForTest().empty());
  ContainerConfig c = config("db-1");
  c.volumes = {{"db-data", "/data", false}, {"db-conf", "/etc/db", true}};
  ASSERT_TRUE(rt_.create(c));
  EXPECT_EQ(rt_.volumesForTest(), (std::set<std::string>{"db-conf", "db-data"}));
  ContainerConfig again = config("db-2");
  again.volumes = {{"db-data", "/data", false}};
  ASSERT_TRUE(rt_.create(again));  // the same volume, shared: still one
  EXPECT_EQ(rt_.volumesForTest().size(), 2u);
}

TEST_F(FakeRuntimeTest, RemoveVolumeIsRefusedWhileAContainerUsesItAndOkWhenAbsent) {
  ContainerConfig c = config("db-1");
  c.volumes = {{"db-data", "/data", false}};
  auto id = rt_.create(c);
  ASSERT_TRUE(id);
  ASSERT_TRUE(rt_.start(*id));
  auto in_use = rt_.removeVolume("db-data");
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().code, ErrorCode::kConflict);
  EXPECT_NE(in_use.error().message.find("volume is in use"), std::string::npos) << in_use.error().message;
  EXPECT_NE(in_use.error().message.find(*id), std::string::npos) << "names the container using it";
  EXPECT_FALSE(in_use.error().retryable);
  ASSERT_TRUE(rt_.stop(*id, Duration(0)));
  EXPECT_EQ(rt_.removeVolume("db-data").error().code, ErrorCode::kConflict) << "a stopped container uses it too";
  EXPECT_TRUE(rt_.volumesForTest().contains("db-data"));

  ASSERT_TRUE(rt_.remove(*id, false));
  EXPECT_TRUE(rt_.removeVolume("db-data"));
  EXPECT_TRUE(rt_.volumesForTest().empty());
  EXPECT_TRUE(rt_.removeVolume("db-data")) << "already gone is not an error";
  EXPECT_TRUE(rt_.removeVolume("never-made"));
  EXPECT_EQ(rt_.callsForTest("removeVolume"), 5);

  rt_.failNextForTest("removeVolume", Error{ErrorCode::kUnavailable, "docker: daemon restarting", true});
  EXPECT_EQ(rt_.removeVolume("x").error().code, ErrorCode::kUnavailable);
}

TEST_F(FakeRuntimeTest, LogsReturnTheLastLines) {
  std::string id = running("web-1");
  rt_.appendLogForTest(id, "one\ntwo\nthree\n");
  EXPECT_EQ(*rt_.logs(id, 2), "two\nthree\n");
  EXPECT_EQ(*rt_.logs(id, 10), "one\ntwo\nthree\n");
  EXPECT_EQ(*rt_.logs(id, -1), "one\ntwo\nthree\n");
  EXPECT_EQ(*rt_.logs(id, 0), "");
}

TEST_F(FakeRuntimeTest, BuildsTagImagesAndFailuresCarryTheOutput) {
  std::vector<std::string> progress;
  auto id = rt_.build(BuildRequest{"web:1", "tar", "Dockerfile", {}, {}},
                      [&](const std::string& l) { progress.push_back(l); });
  ASSERT_TRUE(id);
  EXPECT_TRUE(id->starts_with("sha256:"));
  EXPECT_TRUE(*rt_.imageExists("web:1"));
  EXPECT_FALSE(*rt_.imageExists("web:2"));
  EXPECT_FALSE(progress.empty());
  rt_.setBuildFailureForTest("web:2", "Step 1/2 : FROM scratch\nStep 2/2 : RUN false\nreturned a non-zero code: 1\n");
  auto bad = rt_.build(BuildRequest{"web:2", "tar", "Dockerfile", {}, {}}, nullptr);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
  EXPECT_NE(bad.error().message.find("RUN false"), std::string::npos);
  EXPECT_FALSE(*rt_.imageExists("web:2"));
}

TEST_F(FakeRuntimeTest, WatchersGetEventsOfTheirLabelsUntilStopped) {
  std::mutex mu;
  std::vector<std::string> seen;
  std::stop_source stop;
  auto done = std::async(std::launch::async, [&] {
    return rt_.watchEvents({{"shoal.app", "web"}}, [&](const ContainerEvent& e) {
      std::lock_guard lock(mu);
      seen.push_back(e.action);
    }, stop.get_token());
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (rt_.watchersForTest() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(rt_.watchersForTest(), 1);
  std::string id = running("web-1", true);
  rt_.setHealthForTest(id, Health::kHealthy);
  ContainerConfig db = config("db");
  db.labels = {{"shoal.app", "db"}};
  ASSERT_TRUE(rt_.create(db));  // not this watcher's
  ASSERT_TRUE(rt_.stop(id, Duration(0)));
  std::vector<std::string> want = {"create", "start", "health_status: healthy", "kill", "die", "stop"};
  while (std::chrono::steady_clock::now() < deadline) {
    std::lock_guard lock(mu);
    if (seen.size() >= want.size()) break;
  }
  stop.request_stop();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(done.get());
  EXPECT_EQ(seen, want);
  EXPECT_EQ(rt_.watchersForTest(), 0);
}

TEST_F(FakeRuntimeTest, BrokenEventStreamReturnsTheError) {
  std::stop_source stop;
  auto done = std::async(std::launch::async, [&] {
    return rt_.watchEvents({}, [](const ContainerEvent&) {}, stop.get_token());
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (rt_.watchersForTest() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  rt_.breakEventsForTest(Error{ErrorCode::kUnavailable, "docker: stream ended", true});
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto st = done.get();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace shoal
