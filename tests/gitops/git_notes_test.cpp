#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gitops/git_source.h"
#include "tests/gitops/git_fixture.h"
#include "tests/harness/harness.h"

namespace shoal {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class GitNotesTest : public test::GitFixture {
 protected:
  void TearDown() override {
    stopDaemon();
    GitFixture::TearDown();
  }
  GitSourceOptions options(const std::string& remote) {
    GitSourceOptions o;
    o.remote = remote;
    o.mirror_dir = mirror_.string();
    return o;
  }
  std::string noteIn(const fs::path& repo, const std::string& commit) {
    return git(repo, "log --notes=shoal -1 --format=%N " + commit);
  }

  // Serves bare clones under tmp_/served over git:// on loopback; pushes are accepted only with
  // `receive_pack`. Returns the URL of `name`.
  std::string serve(const std::string& name, bool receive_pack) {
    fs::path root = tmp_ / "served";
    if (!fs::exists(root / name)) {
      fs::create_directories(root);
      test::sh("git clone -q --bare " + test::quote(remote_.string()) + " " + test::quote((root / name).string()));
    }
    if (port_ == 0) port_ = shoal::testing::freePort();
    // In the background with its pid echoed: known at once, unlike --detach's pid file.
    std::string pid = test::sh("git daemon --reuseaddr --export-all --listen=127.0.0.1 --port=" +
                               std::to_string(port_) + " --base-path=" + test::quote(root.string()) +
                               (receive_pack ? " --enable=receive-pack " : " ") + test::quote(root.string()) +
                               " >/dev/null 2>&1 & echo $!");
    daemon_pid_ = std::stoi(pid);
    return "git://127.0.0.1:" + std::to_string(port_) + "/" + name;
  }
  void stopDaemon() {
    if (daemon_pid_ <= 0) return;
    kill(daemon_pid_, SIGTERM);  // each test has its own port, so no need to wait for the exit
    daemon_pid_ = 0;
  }
  // The daemon forks and listens a moment after it detaches: poll until it answers.
  Result<std::string> pollUntilServed(GitSource& source) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto polled = source.poll();
    while (!polled && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the poll interval
      polled = source.poll();
    }
    return polled;
  }

  int port_ = 0;
  pid_t daemon_pid_ = 0;
};

TEST_F(GitNotesTest, NoteShowsInTheRemotesLog) {
  GitSource source(options(remote_.string()));
  ASSERT_EQ(source.poll(), first_);
  ASSERT_TRUE(source.writeNote(first_, "applying on node-1"));
  ASSERT_TRUE(source.writeNote(first_, "applied on node-1"));  // replaces
  EXPECT_EQ(noteIn(remote_, first_), "applied on node-1");
  EXPECT_EQ(git(remote_, "log --notes=shoal -1 --format=%an refs/notes/shoal"), "shoal");
}

TEST_F(GitNotesTest, TwoNotesOnTwoCommitsBothSurvive) {
  GitSource source(options(remote_.string()));
  std::string second = commit(remote_, {{"a.yaml", "a: 1\n"}});
  ASSERT_EQ(source.poll(), second);
  ASSERT_TRUE(source.writeNote(first_, "refused: cluster.yaml:1:1: bad"));
  ASSERT_TRUE(source.writeNote(second, "applied"));
  EXPECT_EQ(noteIn(remote_, first_), "refused: cluster.yaml:1:1: bad");
  EXPECT_EQ(noteIn(remote_, second), "applied");
}

TEST_F(GitNotesTest, AnotherWriterMovedTheNotesRef) {
  GitSource source(options(remote_.string()));
  std::string c2 = commit(remote_, {{"b", "2"}});
  std::string c3 = commit(remote_, {{"c", "3"}});
  ASSERT_TRUE(source.poll());
  ASSERT_TRUE(source.writeNote(first_, "mine 1"));
  git(remote_, "notes --ref=shoal add -m 'theirs 2' " + c2);  // the remote's ref is now ahead
  ASSERT_TRUE(source.writeNote(c3, "mine 3"));
  EXPECT_EQ(noteIn(remote_, first_), "mine 1");
  EXPECT_EQ(noteIn(remote_, c2), "theirs 2");
  EXPECT_EQ(noteIn(remote_, c3), "mine 3");
}

TEST_F(GitNotesTest, DivergedNotesHistoriesAreMerged) {
  GitSource source(options(remote_.string()));
  std::string c2 = commit(remote_, {{"b", "2"}});
  std::string c3 = commit(remote_, {{"c", "3"}});
  ASSERT_TRUE(source.poll());
  ASSERT_TRUE(source.writeNote(first_, "mine 1"));
  // Another writer rewrote the ref from scratch: its history no longer contains ours.
  git(remote_, "update-ref -d refs/notes/shoal");
  git(remote_, "notes --ref=shoal add -m 'theirs 2' " + c2);
  ASSERT_TRUE(source.writeNote(c3, "mine 3"));
  EXPECT_EQ(noteIn(remote_, first_), "mine 1");
  EXPECT_EQ(noteIn(remote_, c2), "theirs 2");
  EXPECT_EQ(noteIn(remote_, c3), "mine 3");
}

TEST_F(GitNotesTest, WriteNotesOffWritesNothing) {
  GitSourceOptions o = options(remote_.string());
  o.write_notes = false;
  GitSource source(o);
  ASSERT_TRUE(source.poll());
  ASSERT_TRUE(source.writeNote(first_, "x"));
  EXPECT_EQ(git(remote_, "for-each-ref refs/notes"), "");
}

TEST_F(GitNotesTest, ReadOnlyRemoteRefusesButTheNoteStaysInTheMirror) {
  std::string url = serve("ro.git", /*receive_pack=*/false);
  GitSource source(options(url));
  ASSERT_EQ(pollUntilServed(source), first_);
  auto written = source.writeNote(first_, "applied");
  ASSERT_FALSE(written);
  EXPECT_THAT(written.error().message, HasSubstr("spec repo " + url));
  EXPECT_THAT(written.error().message, HasSubstr("kept in the mirror"));
  EXPECT_EQ(git(mirror_, "notes --ref=shoal show " + first_), "applied");
}

TEST_F(GitNotesTest, HookRefusalThenTheNextNoteCarriesBoth) {
  std::string url = serve("hooked.git", /*receive_pack=*/true);
  fs::path hook = tmp_ / "served/hooked.git/hooks/pre-receive";
  std::ofstream(hook) << "#!/bin/sh\necho 'notes are frozen' >&2\nexit 1\n";
  fs::permissions(hook, static_cast<fs::perms>(0755));
  GitSource source(options(url));
  ASSERT_EQ(pollUntilServed(source), first_);
  std::string c2 = commit(remote_, {{"b", "2"}});
  git(tmp_ / "served/hooked.git", "fetch -q " + test::quote(remote_.string()) + " main:main");
  ASSERT_EQ(source.poll(), c2);
  auto refused = source.writeNote(first_, "note 1");
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("spec repo " + url));
  fs::remove(hook);
  ASSERT_TRUE(source.writeNote(c2, "note 2"));
  EXPECT_EQ(noteIn(tmp_ / "served/hooked.git", first_), "note 1");
  EXPECT_EQ(noteIn(tmp_ / "served/hooked.git", c2), "note 2");
}

}  // namespace
}  // namespace shoal
