// The event stream of the real daemon.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "runtime/docker_runtime.h"
#include "tests/runtime/docker_test_env.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::DockerTestEnv;

class DockerEventsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = new DockerTestEnv(); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(env_->ready()) << env_->error(); }
  void TearDown() override {
    stop_.request_stop();
    if (watch_.valid()) watch_.wait();
    env_->removeContainers();
  }

  void watch(const Labels& labels) {
    watch_ = std::async(std::launch::async, [this, labels] {
      return rt_.watchEvents(labels, [this](const ContainerEvent& e) {
        std::lock_guard lock(mu_);
        events_.push_back(e);
      }, stop_.get_token());
    });
  }

  bool seen(const std::string& id, const std::string& action) {
    std::lock_guard lock(mu_);
    for (const auto& e : events_)
      if (e.id == id && e.action == action) return true;
    return false;
  }

  ContainerConfig config(const std::string& suffix, const Labels& labels, std::vector<std::string> cmd) {
    ContainerConfig c;
    c.name = env_->name(suffix);
    c.image = env_->image();
    c.cmd = std::move(cmd);
    c.labels = labels;
    return c;
  }

  template <typename F>
  bool eventually(F&& f, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);  // polling a real daemon
    }
    return f();
  }

  // The stream is live once it reports a container made after it was opened; before that, events
  // may be lost to the race between connecting and the first create.
  void waitUntilLive(const Labels& labels) {
    ASSERT_TRUE(eventually([&] {
      ContainerConfig probe = config("probe", labels, {"/bin/busybox", "true"});
      auto id = rt_.create(probe);
      if (!id) return false;
      bool live = eventually([&] { return seen(*id, "create"); }, 1s);
      (void)rt_.remove(*id, true);
      return live;
    }));
  }

  static DockerTestEnv* env_;
  DockerRuntime rt_;
  std::stop_source stop_;
  std::future<Status> watch_;
  std::mutex mu_;
  std::vector<ContainerEvent> events_;
};
DockerTestEnv* DockerEventsTest::env_ = nullptr;

TEST_F(DockerEventsTest, SeesStartAndDieOfItsLabelAndStopsPromptly) {
  Labels mine = env_->labels();
  mine["shoal.app"] = "events";
  watch(mine);
  waitUntilLive(mine);

  ContainerConfig other = config("unwatched", env_->labels(), {"/bin/busybox", "true"});
  auto other_id = rt_.create(other);
  ASSERT_TRUE(other_id);
  ContainerConfig c = config("events", mine, {"/bin/sh", "-c", "exit 3"});
  auto id = rt_.create(c);
  ASSERT_TRUE(id) << id.error().str();
  ASSERT_TRUE(rt_.start(*id));
  ASSERT_TRUE(eventually([&] { return seen(*id, "start") && seen(*id, "die"); }));
  {
    std::lock_guard lock(mu_);
    for (const auto& e : events_) {
      EXPECT_NE(e.id, *other_id) << "an event of a container without the label";
      if (e.id == *id && e.action == "die") {
        EXPECT_EQ(e.labels.at("exitCode"), "3");
        EXPECT_EQ(e.labels.at("shoal.app"), "events");
      }
    }
  }
  // The stream is idle now; a stop must still end it.
  stop_.request_stop();
  ASSERT_EQ(watch_.wait_for(10s), std::future_status::ready) << "watchEvents ignored the stop";
  auto st = watch_.get();
  EXPECT_TRUE(st) << st.error().str();
}

}  // namespace
}  // namespace shoal
