#include "reconcile/fake_store.h"

#include <gtest/gtest.h>

#include "tests/reconcile/store_contract_test.h"

namespace shoal {
namespace {

struct FakeEnv {
  explicit FakeEnv(Clock&) {}
  StateStore& store() { return fake; }
  FakeStore fake;
};
using FakeEnvs = ::testing::Types<FakeEnv>;
INSTANTIATE_TYPED_TEST_SUITE_P(FakeStoreContract, StoreContractTest, FakeEnvs);

TEST(FakeStoreTest, FailedWritesChangeNothingAndAreNotCounted) {
  FakeStore s;
  ASSERT_TRUE(s.setMeta("applied_commit", "a"));
  ASSERT_TRUE(s.appendEvent(Event{0, {}, "info", "commit.applied", "", "a", "applied"}));
  EXPECT_EQ(s.writesForTest(), 2);

  s.setFailWritesForTest(Error{ErrorCode::kIo, "state.db: disk full while writing event", true});
  auto meta = s.setMeta("applied_commit", "b");
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().code, ErrorCode::kIo);
  EXPECT_TRUE(meta.error().retryable);
  EXPECT_NE(meta.error().message.find("disk full"), std::string::npos);
  EXPECT_FALSE(s.appendEvent(Event{}));
  EXPECT_FALSE(s.journalBegin(JournalEntry{}));
  AppRecord web;
  web.name = "web";
  EXPECT_FALSE(s.putApp(web));
  EXPECT_FALSE(s.deleteApp("web"));
  EXPECT_FALSE(s.setCommitOutcome("a", {"healthy", "", {}}));
  EXPECT_FALSE(s.putCachedImage("t", "web", "img", {}));
  EXPECT_FALSE(s.eventsTrim(0));
  EXPECT_FALSE(s.journalTrim(0));
  EXPECT_EQ(s.writesForTest(), 2);
  // Reads still work, and show nothing of the failed writes.
  EXPECT_EQ(s.getMeta("applied_commit").value(), "a");
  EXPECT_EQ(s.events(0, 10).value().size(), 1u);
  EXPECT_TRUE(s.apps().value().empty());

  s.setFailWritesForTest(std::nullopt);
  ASSERT_TRUE(s.setMeta("applied_commit", "b"));
  EXPECT_EQ(s.getMeta("applied_commit").value(), "b");
  EXPECT_EQ(s.writesForTest(), 3);
}

}  // namespace
}  // namespace shoal
