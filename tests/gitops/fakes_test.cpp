#include <gtest/gtest.h>

#include "gitops/fake_source.h"
#include "gitops/map_tree.h"
#include "tests/gitops/tar_reader.h"

namespace shoal {
namespace {

MapTree::Files sample() {
  return {{"cluster.yaml", "min_nodes: 1\n"},
          {"apps/web.yaml", "image: web\n"},
          {"apps/web/Dockerfile", "FROM scratch\n"},
          {"apps/web/run.sh", {"#!/bin/sh\n", 0755}},
          {"apps/db.yaml", "image: db\n"}};
}

TEST(MapTreeTest, ReadsListsAndKnowsDirs) {
  MapTree tree("c1", sample());
  EXPECT_EQ(tree.commitId(), "c1");
  EXPECT_EQ(tree.readFile("apps/web.yaml"), "image: web\n");
  EXPECT_EQ(tree.readFile("apps/none.yaml"), std::nullopt);
  EXPECT_EQ(tree.listFiles("apps"), (std::vector<std::string>{"db.yaml", "web.yaml"}));
  EXPECT_EQ(tree.listFiles(""), std::vector<std::string>{"cluster.yaml"});
  EXPECT_TRUE(tree.listFiles("nope").empty());
  EXPECT_TRUE(tree.isDir(""));
  EXPECT_TRUE(tree.isDir("apps/web"));
  EXPECT_FALSE(tree.isDir("apps/web.yaml"));
  EXPECT_FALSE(tree.isDir("app"));  // a prefix of a name is not a directory
  EXPECT_TRUE(tree.isFile("apps/web/run.sh"));
  EXPECT_FALSE(tree.isFile("apps"));
}

TEST(MapTreeTest, TreeIdChangesExactlyWhenSomethingUnderTheDirChanges) {
  MapTree a("c1", sample());
  auto files = sample();
  files.insert_or_assign("apps/db.yaml", "image: db2\n");  // outside apps/web
  MapTree b("c2", files);
  EXPECT_EQ(a.treeId("apps/web"), b.treeId("apps/web"));
  EXPECT_NE(a.treeId("apps"), b.treeId("apps"));
  EXPECT_NE(a.treeId(""), b.treeId(""));
  files.insert_or_assign("apps/web/run.sh", MapFile("#!/bin/sh\n", 0644));  // only the mode
  MapTree c("c3", files);
  EXPECT_NE(b.treeId("apps/web"), c.treeId("apps/web"));
  EXPECT_EQ(a.treeId("apps/web")->size(), 40u);
  EXPECT_EQ(a.treeId("missing"), std::nullopt);
}

TEST(MapTreeTest, TarHoldsTheDirWithModes) {
  MapTree tree("c1", sample());
  auto tar = tree.tar("apps/web");
  ASSERT_TRUE(tar) << tar.error().str();
  auto entries = test::readTar(*tar);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].path, "Dockerfile");
  EXPECT_EQ(entries[0].mode, 0644u);
  EXPECT_EQ(entries[1].path, "run.sh");
  EXPECT_EQ(entries[1].mode, 0755u);
  auto whole = test::readTar(*tree.tar(""));
  EXPECT_EQ(whole.front().path, "apps/");
  EXPECT_EQ(whole.front().type, '5');
  EXPECT_FALSE(tree.tar("missing"));
}

TEST(FakeSpecSourceTest, PollReturnsTheLatestCommit) {
  FakeSpecSource source;
  auto empty = source.poll();
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kNotFound);
  std::string c1 = source.addCommit(sample());
  EXPECT_EQ(c1.size(), 40u);
  EXPECT_EQ(source.poll(), c1);
  auto files = sample();
  files.erase("apps/db.yaml");
  std::string c2 = source.addCommit(files);
  EXPECT_NE(c1, c2);
  EXPECT_EQ(source.poll(), c2);
  EXPECT_EQ(source.poll(), c2);
  EXPECT_EQ(source.pollCount(), 4);
  auto old = source.open(c1);
  ASSERT_TRUE(old);
  EXPECT_TRUE((*old)->isFile("apps/db.yaml"));
  EXPECT_FALSE(source.open(std::string(40, '0')));
}

TEST(FakeSpecSourceTest, UnreachableIsRetryableAndOldCommitsStillOpen) {
  FakeSpecSource source;
  std::string c1 = source.addCommit(sample());
  source.setUnreachableForTest(true);
  auto polled = source.poll();
  ASSERT_FALSE(polled);
  EXPECT_EQ(polled.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(polled.error().retryable);
  EXPECT_TRUE(source.open(c1));
  EXPECT_FALSE(source.writeNote(c1, "applied"));
  EXPECT_EQ(source.notes().at(c1), "applied");  // kept, as the real mirror keeps it
  source.setUnreachableForTest(false);
  EXPECT_EQ(source.poll(), c1);
}

TEST(FakeSpecSourceTest, NotesAreRecordedAndReplaced) {
  FakeSpecSource source;
  std::string c1 = source.addCommit(sample());
  std::string c2 = source.addCommit({{"cluster.yaml", "min_nodes: 2\n"}});
  ASSERT_TRUE(source.writeNote(c1, "refused"));
  ASSERT_TRUE(source.writeNote(c2, "applying"));
  ASSERT_TRUE(source.writeNote(c2, "applied"));
  EXPECT_EQ(source.notes(), (std::map<std::string, std::string>{{c1, "refused"}, {c2, "applied"}}));
  source.setRefuseNotesForTest(true);
  EXPECT_FALSE(source.writeNote(c1, "again"));
  EXPECT_EQ(source.notes().at(c1), "again");
  EXPECT_FALSE(source.writeNote(std::string(40, 'f'), "x"));
}

}  // namespace
}  // namespace shoal
