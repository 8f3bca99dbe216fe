#include "gitops/git_tree.h"

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "gitops/git_source.h"
#include "tests/gitops/git_fixture.h"
#include "tests/gitops/tar_reader.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

class GitTreeTest : public test::GitFixture {
 protected:
  // Polls the remote into the mirror and opens `commit` there.
  SpecTreePtr openAt(const std::string& commit) {
    GitSource source({.remote = remote_.string(), .mirror_dir = mirror_.string()});
    EXPECT_TRUE(source.poll());
    auto tree = source.open(commit);
    EXPECT_TRUE(tree) << tree.error().str();
    return tree ? std::move(*tree) : nullptr;
  }
  std::string readBack(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

TEST_F(GitTreeTest, ReadsAnOldCommitAfterNewerOnes) {
  std::string c1 = commit(remote_, {{"apps/web.yaml", "v: 1\n"}, {"apps/db.yaml", "db\n"}});
  commit(remote_, {{"apps/web.yaml", "v: 2\n"}, {"apps/new.yaml", "n\n"}});
  commit(remote_, {{"cluster.yaml", "min_nodes: 3\n"}});
  auto tree = openAt(c1);
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->commitId(), c1);
  EXPECT_EQ(tree->readFile("apps/web.yaml"), "v: 1\n");
  EXPECT_EQ(tree->readFile("cluster.yaml"), "min_nodes: 1\n");
  EXPECT_EQ(tree->readFile("apps/new.yaml"), std::nullopt);
  EXPECT_EQ(tree->readFile("apps"), std::nullopt);
  EXPECT_EQ(tree->listFiles("apps"), (std::vector<std::string>{"db.yaml", "web.yaml"}));
  EXPECT_EQ(tree->listFiles(""), std::vector<std::string>{"cluster.yaml"});
  EXPECT_TRUE(tree->listFiles("nope").empty());
  EXPECT_TRUE(tree->isDir(""));
  EXPECT_TRUE(tree->isDir("apps"));
  EXPECT_FALSE(tree->isDir("apps/web.yaml"));
  EXPECT_TRUE(tree->isFile("apps/web.yaml"));
  EXPECT_FALSE(tree->isFile("apps"));
  EXPECT_EQ(tree->treeId(""), git(remote_, "rev-parse " + c1 + "^{tree}"));
  EXPECT_EQ(tree->treeId("apps"), git(remote_, "rev-parse " + c1 + ":apps"));
  EXPECT_EQ(tree->treeId("apps/web.yaml"), std::nullopt);
}

TEST_F(GitTreeTest, TreeIdChangesExactlyWhenSomethingUnderTheDirChanges) {
  std::string c1 = commit(remote_, {{"apps/web/Dockerfile", "FROM scratch\n"}, {"apps/web.yaml", "a\n"}});
  std::string c2 = commit(remote_, {{"apps/web.yaml", "b\n"}, {"other/x", "1\n"}});
  std::string c3 = commit(remote_, {{"apps/web/index.html", "hi\n"}});
  auto t1 = openAt(c1);
  auto t2 = openAt(c2);
  auto t3 = openAt(c3);
  ASSERT_TRUE(t1 && t2 && t3);
  EXPECT_EQ(t1->treeId("apps/web"), t2->treeId("apps/web"));
  EXPECT_NE(t1->treeId("apps"), t2->treeId("apps"));
  EXPECT_NE(t2->treeId("apps/web"), t3->treeId("apps/web"));
  git(remote_, "update-index --chmod=+x apps/web/Dockerfile");
  git(remote_, "commit -q -m mode");
  auto t4 = openAt(git(remote_, "rev-parse HEAD"));
  EXPECT_NE(t3->treeId("apps/web"), t4->treeId("apps/web")) << "a mode change is a change";
}

TEST_F(GitTreeTest, TarExtractsToTheSameFilesAndModes) {
  std::string deep = std::string(60, 'd') + "/" + std::string(60, 'e') + "/" + std::string(90, 'f');
  std::string huge = std::string(200, 'g') + "/" + std::string(120, 'h');  // needs a PAX header
  commit(remote_, {{"app/Dockerfile", "FROM scratch\nCOPY . /\n"},
                   {"app/bin/start.sh", "#!/bin/sh\necho start\n"},
                   {"app/" + deep, "deep\n"},
                   {"app/" + huge, "huge\n"},
                   {"elsewhere.txt", "not in the tar\n"}});
  test::sh("chmod +x " + test::quote((remote_ / "app/bin/start.sh").string()));
  test::sh("ln -s bin/start.sh " + test::quote((remote_ / "app/start").string()));
  git(remote_, "add -A");
  git(remote_, "commit -q -m exec");
  auto tree = openAt(git(remote_, "rev-parse HEAD"));
  ASSERT_TRUE(tree);
  auto tar = tree->tar("app");
  ASSERT_TRUE(tar) << tar.error().str();
  EXPECT_NO_THROW(test::readTar(*tar));
  fs::path out = tmp_ / "out";
  fs::create_directories(out);
  std::ofstream(tmp_ / "app.tar", std::ios::binary) << *tar;
  test::sh("tar -x -f " + test::quote((tmp_ / "app.tar").string()) + " -C " + test::quote(out.string()));
  EXPECT_EQ(readBack(out / "Dockerfile"), "FROM scratch\nCOPY . /\n");
  EXPECT_EQ(readBack(out / deep), "deep\n");
  EXPECT_EQ(readBack(out / huge), "huge\n");
  EXPECT_FALSE(fs::exists(out / "elsewhere.txt"));
  auto perms = [](const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; };
  EXPECT_EQ(perms(out / "bin/start.sh"), static_cast<fs::perms>(0755));
  EXPECT_EQ(perms(out / "Dockerfile"), static_cast<fs::perms>(0644));
  ASSERT_TRUE(fs::is_symlink(out / "start"));
  EXPECT_EQ(fs::read_symlink(out / "start"), "bin/start.sh");
  std::string listing = test::sh("tar -t -f " + test::quote((tmp_ / "app.tar").string()));
  EXPECT_NE(listing.find("bin/start.sh"), std::string::npos);
  EXPECT_EQ(listing.find("app/"), std::string::npos) << "paths are relative to the dir";
  EXPECT_FALSE(tree->tar("missing"));
  EXPECT_TRUE(tree->tar(""));
}

TEST_F(GitTreeTest, SubmodulesAreSkipped) {
  fs::path sub = makeRepo("sub");
  std::string sub_head = git(sub, "rev-parse HEAD");
  // A gitlink entry, as `git submodule add` makes, without needing the submodule's files.
  git(remote_, "update-index --add --cacheinfo 160000," + sub_head + ",app/vendor");
  commit(remote_, {{"app/main.c", "int main(){}\n"}});
  auto tree = openAt(git(remote_, "rev-parse HEAD"));
  ASSERT_TRUE(tree);
  auto tar = tree->tar("app");
  ASSERT_TRUE(tar) << tar.error().str();
  auto entries = test::readTar(*tar);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, "main.c");
}

TEST_F(GitTreeTest, ConcurrentReadsFromManyThreads) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 20; ++i) files["apps/app" + std::to_string(i) + ".yaml"] = "n: " + std::to_string(i) + "\n";
  std::string c = commit(remote_, files);
  auto tree = openAt(c);
  ASSERT_TRUE(tree);
  std::vector<std::thread> threads;
  std::atomic<int> bad = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 20; ++i) {
          auto content = tree->readFile("apps/app" + std::to_string(i) + ".yaml");
          if (content != "n: " + std::to_string(i) + "\n") ++bad;
        }
        if (tree->listFiles("apps").size() != 20 || !tree->treeId("apps") || !tree->tar("apps")) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, 0);
}

TEST_F(GitTreeTest, OpenDirectlyOnARepository) {
  auto tree = GitTree::open((remote_ / ".git").string(), first_);
  ASSERT_TRUE(tree) << tree.error().str();
  EXPECT_EQ((*tree)->readFile("cluster.yaml"), "min_nodes: 1\n");
  EXPECT_EQ(GitTree::open((tmp_ / "nowhere").string(), first_).error().code, ErrorCode::kIo);
}

}  // namespace
}  // namespace shoal
