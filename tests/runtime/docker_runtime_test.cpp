// `DockerRuntime` against the real daemon on /var/run/docker.sock. Every container carries this
// run's label and is removed by label in TearDown; the image and volumes are removed at the end.
// Fails (never skips) when Docker can't be reached.
#include "runtime/docker_runtime.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "tests/runtime/docker_test_env.h"

namespace shoal {
namespace {

using namespace std::chrono_literals;
using testing::DockerTestEnv;

class DockerRuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = new DockerTestEnv(); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(env_->ready()) << env_->error(); }
  void TearDown() override { env_->removeContainers(); }

  ContainerConfig config(const std::string& suffix, std::vector<std::string> cmd) {
    ContainerConfig c;
    c.name = env_->name(suffix);
    c.image = env_->image();
    c.cmd = std::move(cmd);
    c.labels = env_->labels();
    return c;
  }

  static DockerTestEnv* env_;
  DockerRuntime rt_;
};
DockerTestEnv* DockerRuntimeTest::env_ = nullptr;

template <typename F>
bool eventually(F&& f, std::chrono::seconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);  // polling a real daemon, not waiting for time to pass
  }
  return f();
}

TEST_F(DockerRuntimeTest, NegotiatesTheApiVersion) {
  EXPECT_EQ(*rt_.apiVersionForTest(), "1.41");
  DockerRuntime::Options opts;
  opts.max_api_version = "1.30";
  DockerRuntime older(opts);
  EXPECT_EQ(*older.apiVersionForTest(), "1.30");
  EXPECT_TRUE(older.list(env_->labels()));
}

TEST_F(DockerRuntimeTest, ContainerLifecycle) {
  ContainerConfig c = config("web", {"/bin/sh", "-c",
                                     "echo hello-$GREETING; echo oops >&2; touch /data/ready; "
                                     "exec /bin/busybox httpd -f -p 80"});
  c.env = {{"GREETING", "world"}};
  c.labels["shoal.app"] = "web";
  c.ports = {{80, "tcp", "127.0.0.1", "28080-28180"}};
  c.volumes = {{env_->volume("data"), "/data", false}};
  c.memory_bytes = 64 << 20;
  c.nano_cpus = 500000000;
  c.restart_policy = "unless-stopped";
  c.health = Healthcheck{{"/bin/busybox", "test", "-f", "/data/ready"}, Duration(300), Duration(2000), Duration(0), 3};
  auto id = rt_.create(c);
  ASSERT_TRUE(id) << id.error().str();
  ContainerConfig other = config("other", {"/bin/busybox", "true"});
  other.labels["shoal.app"] = "db";
  ASSERT_TRUE(rt_.create(other));

  ASSERT_TRUE(rt_.start(*id));
  EXPECT_TRUE(rt_.start(*id)) << "starting a running container is not an error";
  auto listed = rt_.list({{env_->runLabel(), env_->runId()}, {"shoal.app", "web"}});
  ASSERT_TRUE(listed) << listed.error().str();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, *id);
  EXPECT_EQ((*listed)[0].name, c.name);
  EXPECT_EQ((*listed)[0].state, ContainerState::kRunning);
  EXPECT_EQ(rt_.list(env_->labels())->size(), 2u);

  ASSERT_TRUE(eventually([&] { return rt_.inspect(*id)->health == Health::kHealthy; }));
  auto info = rt_.inspect(c.name);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->image, env_->image());
  EXPECT_EQ(info->labels.at("shoal.app"), "web");
  EXPECT_NE(info->started, TimePoint{});
  ASSERT_FALSE(info->ports.empty());
  EXPECT_EQ(info->ports[0].container_port, 80);
  EXPECT_GE(info->ports[0].host_port, 28080);
  EXPECT_LE(info->ports[0].host_port, 28180);
  EXPECT_TRUE(eventually([&] { return rt_.list({{"shoal.app", "web"}, {env_->runLabel(), env_->runId()}})->at(0).health == Health::kHealthy; }));

  ASSERT_TRUE(eventually([&] {
    auto text = rt_.logs(*id, 10);
    return text && text->find("hello-world\n") != std::string::npos && text->find("oops\n") != std::string::npos;
  }));

  ASSERT_TRUE(rt_.pause(*id));
  EXPECT_EQ(rt_.inspect(*id)->state, ContainerState::kPaused);
  EXPECT_EQ(rt_.pause(*id).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(rt_.unpause(*id));
  EXPECT_EQ(rt_.inspect(*id)->state, ContainerState::kRunning);
  EXPECT_EQ(rt_.remove(*id, false).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(rt_.stop(*id, Duration(5000)));
  EXPECT_TRUE(rt_.stop(*id, Duration(5000))) << "stopping a stopped container is not an error";
  info = rt_.inspect(*id);
  EXPECT_EQ(info->state, ContainerState::kExited);
  EXPECT_EQ(info->exit_code, 143);  // docker-init passed SIGTERM on
  auto paused_stopped = rt_.pause(*id);
  ASSERT_FALSE(paused_stopped);
  EXPECT_NE(paused_stopped.error().message.find("is not running"), std::string::npos);
  ASSERT_TRUE(rt_.remove(*id, false));
  EXPECT_EQ(rt_.inspect(*id).error().code, ErrorCode::kNotFound);
}

TEST_F(DockerRuntimeTest, CreateOfATakenNameIsAConflict) {
  ContainerConfig c = config("dup", {"/bin/busybox", "true"});
  auto first = rt_.create(c);
  ASSERT_TRUE(first) << first.error().str();
  auto again = rt_.create(c);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("is already in use"), std::string::npos) << again.error().message;
}

TEST_F(DockerRuntimeTest, MissingContainersAreNotFound) {
  auto st = rt_.remove(env_->name("never-made"), true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_NE(st.error().message.find("No such container"), std::string::npos);
  EXPECT_EQ(rt_.inspect(env_->name("never-made")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(rt_.start(env_->name("never-made")).error().code, ErrorCode::kNotFound);
}

// What a node releasing a role does with the role's data: the container goes, then its volume.
TEST_F(DockerRuntimeTest, RemoveVolumeRemovesAnUnusedVolumeRefusesOneInUseAndIgnoresAnAbsentOne) {
  std::string vol = env_->volume("role-data");  // also removed (forced) at the end, whatever happens
  ContainerConfig c = config("role", {"/bin/sh", "-c", "echo kept > /data/f; exec /bin/busybox sleep 600"});
  c.volumes = {{vol, "/data", false}};
  auto id = rt_.create(c);  // Docker creates the volume here
  ASSERT_TRUE(id) << id.error().str();
  ASSERT_TRUE(rt_.start(*id));
  auto volumeExists = [&] {
    UnixHttpClient http("/var/run/docker.sock");
    HttpRequest req;
    req.target = "/volumes/" + urlEncode(vol);
    auto resp = http.send(req);
    EXPECT_TRUE(resp) << resp.error().str();
    return resp && resp->status == 200;
  };
  ASSERT_TRUE(volumeExists());

  auto in_use = rt_.removeVolume(vol);
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().code, ErrorCode::kConflict);
  EXPECT_NE(in_use.error().message.find("remove volume " + vol), std::string::npos) << in_use.error().message;
  EXPECT_NE(in_use.error().message.find("volume is in use"), std::string::npos) << in_use.error().message;
  EXPECT_NE(in_use.error().message.find("a container still uses it"), std::string::npos) << in_use.error().message;
  ASSERT_TRUE(rt_.stop(*id, Duration(2000)));
  EXPECT_EQ(rt_.removeVolume(vol).error().code, ErrorCode::kConflict) << "a stopped container still holds it";
  EXPECT_TRUE(volumeExists());

  ASSERT_TRUE(rt_.remove(*id, false));
  auto removed = rt_.removeVolume(vol);
  ASSERT_TRUE(removed) << removed.error().str();
  EXPECT_FALSE(volumeExists());
  auto again = rt_.removeVolume(vol);
  EXPECT_TRUE(again) << "an absent volume is not an error: " << again.error().str();
}

TEST_F(DockerRuntimeTest, ImageExists) {
  EXPECT_TRUE(*rt_.imageExists(env_->image()));
  auto missing = rt_.imageExists(env_->image() + "-missing");
  ASSERT_TRUE(missing) << missing.error().str();
  EXPECT_FALSE(*missing);
}

TEST_F(DockerRuntimeTest, FailedRunStepIsInvalidWithTheFailingLine) {
  std::vector<std::string> progress;
  auto r = rt_.build(env_->context("FROM " + env_->image() + "\nRUN echo before-fail && false\n", "bad"),
                     [&](const std::string& line) { progress.push_back(line); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("RUN echo before-fail && false"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("returned a non-zero code: 1"), std::string::npos) << r.error().message;
  EXPECT_NE(std::find(progress.begin(), progress.end(), "before-fail"), progress.end());
}

TEST_F(DockerRuntimeTest, MissingFileIsInvalid) {
  auto r = rt_.build(env_->context("FROM scratch\nCOPY no-such-file /x\n", "nofile"), nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("COPY no-such-file /x"), std::string::npos) << r.error().message;
}

TEST_F(DockerRuntimeTest, MissingDockerfileIsInvalid) {
  BuildRequest req = env_->context("FROM scratch\n", "nodockerfile");
  req.dockerfile = "Nope.dockerfile";
  auto r = rt_.build(req, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("Cannot locate specified Dockerfile"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace shoal
