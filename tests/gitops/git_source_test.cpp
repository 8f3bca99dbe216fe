#include "gitops/git_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/gitops/git_fixture.h"

namespace shoal {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class GitSourceTest : public test::GitFixture {
 protected:
  GitSourceOptions options(const std::string& remote) {
    GitSourceOptions o;
    o.remote = remote;
    o.branch = "main";
    o.mirror_dir = mirror_.string();
    return o;
  }
};

TEST_F(GitSourceTest, PollReturnsHeadAndFollowsNewCommits) {
  GitSource source(options(remote_.string()));
  EXPECT_EQ(source.poll(), first_);
  EXPECT_EQ(source.poll(), first_);  // no-op poll
  std::string second = commit(remote_, {{"apps/web.yaml", "image: web\n"}});
  EXPECT_EQ(source.poll(), second);
  EXPECT_EQ(source.poll(), second);
  EXPECT_TRUE(fs::exists(mirror_ / "HEAD")) << "the mirror is a bare repo";
  EXPECT_EQ(git(mirror_, "rev-parse refs/remotes/origin/main"), second);
}

TEST_F(GitSourceTest, RemoteByFileUrl) {
  GitSource source(options("file://" + remote_.string()));
  EXPECT_EQ(source.poll(), first_);
  std::string second = commit(remote_, {{"a", "b"}});
  EXPECT_EQ(source.poll(), second);
}

TEST_F(GitSourceTest, MissingLocalPathSaysSo) {
  std::string missing = (tmp_ / "x" / "y").string();
  GitSource source(options(missing));
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_EQ(polled.error().message, "spec repo " + missing + ": no such directory");
  EXPECT_EQ(polled.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(polled.error().retryable);
  GitSource by_url(options("file://" + missing));
  EXPECT_EQ(by_url.poll().error().message, "spec repo file://" + missing + ": no such directory");
}

TEST_F(GitSourceTest, MissingBranchListsTheBranches) {
  fs::path repo = makeRepo("other", "master");
  git(repo, "branch dev");
  GitSource source(options(repo.string()));
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_EQ(polled.error().message,
            "spec repo " + repo.string() + ": branch \"main\" not found (branches: dev, master)");
  EXPECT_EQ(polled.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(polled.error().retryable);
}

TEST_F(GitSourceTest, BranchDeletedOnTheRemoteIsNotServedStale) {
  git(remote_, "checkout -q -b dev");
  GitSourceOptions o = options(remote_.string());
  o.branch = "dev";
  GitSource source(o);
  ASSERT_EQ(source.poll(), first_);
  git(remote_, "checkout -q main");
  git(remote_, "branch -q -D dev");
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_THAT(polled.error().message, HasSubstr("branch \"dev\" not found (branches: main)"));
}

TEST_F(GitSourceTest, RemoteDeletedAfterPollOldCommitsStillOpen) {
  GitSource source(options(remote_.string()));
  ASSERT_EQ(source.poll(), first_);
  fs::remove_all(remote_);
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_EQ(polled.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(polled.error().message, HasSubstr("no such directory"));
  auto tree = source.open(first_);
  ASSERT_TRUE(tree) << tree.error().str();
  EXPECT_EQ((*tree)->readFile("cluster.yaml"), "min_nodes: 1\n");
}

TEST_F(GitSourceTest, RemoteMovedInNodeYamlUpdatesTheMirrorsOrigin) {
  {
    GitSource source(options(remote_.string()));
    ASSERT_EQ(source.poll(), first_);
  }
  fs::path other = makeRepo("other");
  std::string head = commit(other, {{"other.yaml", "x: 1\n"}});
  GitSource moved(options(other.string()));
  EXPECT_EQ(moved.poll(), head);
  EXPECT_EQ(git(mirror_, "remote get-url origin"), other.string());
  EXPECT_TRUE(moved.open(first_)) << "commits fetched from the old remote stay readable";
}

TEST_F(GitSourceTest, OpenOfUnknownCommitIsNotFound) {
  GitSource source(options(remote_.string()));
  ASSERT_TRUE(source.poll());
  auto tree = source.open(std::string(40, 'a'));
  ASSERT_FALSE(tree);
  EXPECT_EQ(tree.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(source.open("main").error().code, ErrorCode::kInvalid);
}

TEST_F(GitSourceTest, MissingTokenFileIsAClearErrorBeforeAnyNetwork) {
  GitSourceOptions o = options("https://localhost:1/spec.git");
  o.token_file = (tmp_ / "no-token").string();
  GitSource source(o);
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_EQ(polled.error().message, "spec repo https://localhost:1/spec.git: token file " + o.token_file +
                                        ": cannot read: No such file or directory");
}

TEST_F(GitSourceTest, UnreachableHttpsRemoteIsUnavailableWithLibgit2sReason) {
  GitSourceOptions o = options("https://localhost:1/spec.git");  // loopback; nothing listens on 1
  o.token_file = (tmp_ / "token").string();
  test::sh("printf 'secret\\n' > " + test::quote(o.token_file));
  GitSource source(o);
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_EQ(polled.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(polled.error().retryable);
  EXPECT_THAT(polled.error().message, HasSubstr("spec repo https://localhost:1/spec.git: cannot connect: "));
}

}  // namespace
}  // namespace shoal
