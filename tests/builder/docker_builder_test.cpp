// The builder against the real Docker engine: a context tarred from a tree in memory, images
// tagged by the context's tree id, the cache, and a failed build's output.
#include "builder/docker_builder.h"

#include <gtest/gtest.h>

#include <thread>

#include "gitops/map_tree.h"
#include "reconcile/fake_store.h"
#include "runtime/docker_runtime.h"
#include "tests/harness/harness.h"

namespace shoal {
namespace {

class DockerBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(testing::sh("docker version").exit_code, 0) << "Docker is required (scripts/test starts dockerd)";
    if (testing::sh("docker image inspect shoal/busybox:local").exit_code != 0) {
      ASSERT_EQ(testing::sh(testing::sourceDir() + "/scripts/base-image").exit_code, 0);
    }
  }
  void TearDown() override { testing::sh("docker images -q 'shoal/" + name_ + "' | xargs -r docker rmi -f"); }

  AppSpec buildApp() {
    AppSpec a;
    a.name = name_;
    a.build = BuildSpec{"src", "Dockerfile", {}};
    return a;
  }

  MapTree tree(const std::string& commit, const std::string& marker, const std::string& dockerfile_extra = "") {
    std::string dockerfile = "FROM shoal/busybox:local\nCOPY marker /marker\n" + dockerfile_extra;
    return MapTree(commit, {{"src/Dockerfile", MapFile(dockerfile.c_str())}, {"src/marker", MapFile(marker.c_str())},
                            {"README.md", "not in the context"}});
  }

  FakeClock clock_;
  FakeStore store_;
  DockerRuntime docker_;
  DockerImageBuilder builder_{docker_, store_, clock_};
  std::string name_ = "b" + testing::uniqueName();
};

TEST_F(DockerBuilderTest, BuildsOnceForATreeAndAgainOnlyWhenTheContextChanges) {
  MapTree v1 = tree(std::string(40, '1'), "one");
  auto image = builder_.imageFor(buildApp(), v1);
  ASSERT_TRUE(image) << image.error().str();
  EXPECT_EQ(*image, "shoal/" + name_ + ":" + v1.treeId("src")->substr(0, 12));
  EXPECT_EQ(builder_.buildsStarted(), 1);
  EXPECT_EQ(testing::sh("docker run --rm " + *image + " cat /marker").output, "one");

  // Another commit whose context is the same (only README changed): no build.
  MapTree v1b(std::string(40, '2'), {{"src/Dockerfile", "FROM shoal/busybox:local\nCOPY marker /marker\n"},
                                     {"src/marker", "one"}, {"README.md", "changed"}});
  auto same = builder_.imageFor(buildApp(), v1b);
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *image);
  EXPECT_EQ(builder_.buildsStarted(), 1);

  auto other = builder_.imageFor(buildApp(), tree(std::string(40, '3'), "two"));
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *image);
  EXPECT_EQ(builder_.buildsStarted(), 2);
  EXPECT_EQ(store_.cachedImage(*v1.treeId("src"), name_).value(), *image);
}

TEST_F(DockerBuilderTest, AFailedBuildIsInvalidAndEndsWithTheBuildOutput) {
  auto image = builder_.imageFor(buildApp(), tree(std::string(40, '4'), "x", "RUN echo about-to-fail && false\n"));
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, ErrorCode::kInvalid);
  EXPECT_NE(image.error().message.find("about-to-fail"), std::string::npos) << image.error().message;
  EXPECT_NE(image.error().message.find("returned a non-zero code: 1"), std::string::npos) << image.error().message;
}

TEST_F(DockerBuilderTest, AMissingLocalImageSaysNoRegistryIsConfigured) {
  AppSpec a;
  a.name = name_;
  a.image = "shoal/does-not-exist:" + testing::uniqueName();
  auto image = builder_.imageFor(a, tree(std::string(40, '5'), "x"));
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, ErrorCode::kNotFound);
  EXPECT_NE(image.error().message.find("no registry is configured"), std::string::npos) << image.error().message;
  a.image = "shoal/busybox:local";
  EXPECT_EQ(builder_.imageFor(a, tree(std::string(40, '5'), "x")).value(), "shoal/busybox:local");
  EXPECT_EQ(builder_.buildsStarted(), 0);
}

TEST_F(DockerBuilderTest, AShutdownCancelsABuildInProgress) {
  std::stop_source shutdown;
  DockerImageBuilder builder(docker_, store_, clock_, shutdown.get_token());
  MapTree slow = tree(std::string(40, '6'), "x", "RUN echo started && sleep 120\n");
  // Stop as soon as the slow step runs: the call must come back cancelled, not after 120 s.
  std::jthread stopper([&] {
    testing::waitFor([] {
      return testing::sh("docker ps --no-trunc --format '{{.Command}}' | grep -c 'sleep 120'").output != "0\n";
    }, std::chrono::seconds(60));
    shutdown.request_stop();
  });
  auto image = builder.imageFor(buildApp(), slow);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(image.error().message.find("cancelled: the node is stopping"), std::string::npos) << image.error().message;
}

TEST(BuildTagTest, ArgsAndDockerfileChangeTheTagButNotTheTree) {
  AppSpec a;
  a.name = "web";
  a.build = BuildSpec{"web", "Dockerfile", {}};
  std::string tree(40, 'a');
  EXPECT_EQ(buildTag(a, tree), "shoal/web:aaaaaaaaaaaa");
  a.build->args["V"] = "1";
  std::string with_args = buildTag(a, tree);
  EXPECT_EQ(with_args.rfind("shoal/web:aaaaaaaaaaaa-", 0), 0u);
  a.build->args["V"] = "2";
  EXPECT_NE(buildTag(a, tree), with_args);
}

}  // namespace
}  // namespace shoal
