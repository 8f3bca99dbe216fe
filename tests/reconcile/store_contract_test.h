// The `StateStore` contract, one typed suite run against every implementation: store_test runs it
// on `SqliteStore` (real files), fake_store_test on `FakeStore`. A type parameter is an
// environment with `StateStore& store()`; it owns whatever the store needs (a temp dir).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "reconcile/state_store.h"

namespace shoal {

template <typename Env>
class StoreContractTest : public ::testing::Test {
 protected:
  StateStore& store() { return env_.store(); }
  FakeClock clock_;
  Env env_{clock_};
};
TYPED_TEST_SUITE_P(StoreContractTest);

inline Event event(const std::string& kind, const std::string& message, TimePoint at) {
  return Event{0, at, "info", kind, "web", "c0ffee", message};
}

TYPED_TEST_P(StoreContractTest, MetaIsSetReplacedAndMissing) {
  StateStore& s = this->store();
  EXPECT_EQ(s.getMeta("applied_commit").value(), std::nullopt);
  ASSERT_TRUE(s.setMeta("applied_commit", "abc"));
  ASSERT_TRUE(s.setMeta("applied_commit", "def"));
  ASSERT_TRUE(s.setMeta("refused_errors", R"(["a.yaml:1:2: x: bad"])"));
  EXPECT_EQ(s.getMeta("applied_commit").value(), "def");
  EXPECT_EQ(s.getMeta("refused_errors").value(), R"(["a.yaml:1:2: x: bad"])");
}

TYPED_TEST_P(StoreContractTest, CommitOutcomeKeepsTheLatest) {
  StateStore& s = this->store();
  TimePoint t0 = this->clock_.now();
  EXPECT_EQ(s.commitOutcome("c1").value(), std::nullopt);
  ASSERT_TRUE(s.setCommitOutcome("c1", {"built", "", t0}));
  ASSERT_TRUE(s.setCommitOutcome("c1", {"healthy", "2 replicas", t0 + Duration(5)}));
  ASSERT_TRUE(s.setCommitOutcome("c2", {"refused", "apps/web.yaml:3:1: image: required", t0}));
  auto c1 = s.commitOutcome("c1").value();
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->outcome, "healthy");
  EXPECT_EQ(c1->detail, "2 replicas");
  EXPECT_EQ(c1->at, t0 + Duration(5));
  EXPECT_EQ(s.commitOutcome("c2").value()->outcome, "refused");
}

TYPED_TEST_P(StoreContractTest, AppsArePutReplacedAndDeleted) {
  StateStore& s = this->store();
  EXPECT_TRUE(s.apps().value().empty());
  AppRecord web{"web", "h1", R"({"image":"x"})", "c1", "h2", "c2", "health check `wget` failed: 503"};
  AppRecord db{"db", "h9", "{}", "c1", "", "", ""};
  ASSERT_TRUE(s.putApp(web));
  ASSERT_TRUE(s.putApp(db));
  web.failed_hash = "";
  ASSERT_TRUE(s.putApp(web));
  auto apps = s.apps().value();
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps.at("web"), web);
  EXPECT_EQ(apps.at("db"), db);
  ASSERT_TRUE(s.deleteApp("db"));
  ASSERT_TRUE(s.deleteApp("never-there"));
  EXPECT_EQ(s.apps().value().size(), 1u);
}

TYPED_TEST_P(StoreContractTest, JournalBeginFinishOpenTrim) {
  StateStore& s = this->store();
  TimePoint t0 = this->clock_.now();
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    JournalEntry e{0, "create", "web", "web-" + std::to_string(i), "image i" + std::to_string(i), "", t0, {}};
    ids.push_back(s.journalBegin(e).value());
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()) && std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  ASSERT_TRUE(s.journalFinish(ids[0], true, "", t0 + Duration(1)));
  ASSERT_TRUE(s.journalFinish(ids[1], false, "conflict: name in use", t0 + Duration(2)));
  ASSERT_TRUE(s.journalFinish(ids[3], true, "", t0 + Duration(3)));
  auto missing = s.journalFinish(ids.back() + 100, true, "", t0);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  auto open = s.journalOpen().value();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].id, ids[2]);
  EXPECT_EQ(open[1].id, ids[4]);
  EXPECT_EQ(open[0].state, "intent");
  EXPECT_EQ(open[0].op, "create");
  EXPECT_EQ(open[0].app, "web");
  EXPECT_EQ(open[0].container, "web-2");
  EXPECT_EQ(open[0].detail, "image i2");
  EXPECT_EQ(open[0].started, t0);

  // Keep the newest finished one (ids[3]); intents are never trimmed.
  ASSERT_TRUE(s.journalTrim(1));
  EXPECT_EQ(s.journalOpen().value().size(), 2u);
  // ids[0] and ids[1] are gone: finishing them again says so.
  EXPECT_EQ(s.journalFinish(ids[0], true, "", t0).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(s.journalFinish(ids[3], true, "again", t0));
  ASSERT_TRUE(s.journalTrim(0));
  EXPECT_EQ(s.journalFinish(ids[3], true, "", t0).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(s.journalOpen().value().size(), 2u);
  // Ids are never reused, even after every finished entry was trimmed.
  ASSERT_TRUE(s.journalFinish(ids[4], true, "", t0));
  ASSERT_TRUE(s.journalTrim(0));
  EXPECT_GT(s.journalBegin(JournalEntry{0, "stop", "web", "web-9", "", "", t0, {}}).value(), ids.back());
}

TYPED_TEST_P(StoreContractTest, EventsAppendSinceLimitTrim) {
  StateStore& s = this->store();
  TimePoint t0 = this->clock_.now();
  std::vector<int64_t> seqs;
  for (int i = 0; i < 10; ++i) {
    seqs.push_back(s.appendEvent(event("container.created", "n" + std::to_string(i), t0 + Duration(i))).value());
  }
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_GT(seqs[i], seqs[i - 1]);

  auto all = s.events(0, 100).value();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[0].seq, seqs[0]);
  EXPECT_EQ(all[0].message, "n0");
  EXPECT_EQ(all[0].at, t0);
  EXPECT_EQ(all[0].level, "info");
  EXPECT_EQ(all[0].kind, "container.created");
  EXPECT_EQ(all[0].app, "web");
  EXPECT_EQ(all[0].commit, "c0ffee");

  auto page = s.events(seqs[3], 4).value();
  ASSERT_EQ(page.size(), 4u);
  EXPECT_EQ(page.front().message, "n4");
  EXPECT_EQ(page.back().message, "n7");
  EXPECT_TRUE(s.events(seqs.back(), 10).value().empty());
  EXPECT_TRUE(s.events(0, 0).value().empty());

  ASSERT_TRUE(s.eventsTrim(3));
  auto kept = s.events(0, 100).value();
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept.front().message, "n7");
  EXPECT_EQ(kept.back().message, "n9");
  // A reader's cursor stays valid: seq never goes back, even after everything was trimmed.
  ASSERT_TRUE(s.eventsTrim(0));
  EXPECT_TRUE(s.events(0, 100).value().empty());
  EXPECT_GT(s.appendEvent(event("commit.applied", "after", t0)).value(), seqs.back());
}

TYPED_TEST_P(StoreContractTest, BuildCacheByTreeAndApp) {
  StateStore& s = this->store();
  TimePoint t0 = this->clock_.now();
  EXPECT_EQ(s.cachedImage("t1", "web").value(), std::nullopt);
  ASSERT_TRUE(s.putCachedImage("t1", "web", "shoal/web:t1", t0));
  ASSERT_TRUE(s.putCachedImage("t1", "api", "shoal/api:t1", t0));
  ASSERT_TRUE(s.putCachedImage("t1", "web", "shoal/web:t1b", t0 + Duration(1)));
  EXPECT_EQ(s.cachedImage("t1", "web").value(), "shoal/web:t1b");
  EXPECT_EQ(s.cachedImage("t1", "api").value(), "shoal/api:t1");
  EXPECT_EQ(s.cachedImage("t2", "web").value(), std::nullopt);
}

TYPED_TEST_P(StoreContractTest, ValuesSurviveAsBytes) {
  StateStore& s = this->store();
  std::string odd = "quote ' double \" nul-free unicode \xc3\xa9 newline\n; DROP TABLE meta; --";
  ASSERT_TRUE(s.setMeta(odd, odd));
  EXPECT_EQ(s.getMeta(odd).value(), odd);
  AppRecord r{odd, odd, odd, odd, odd, odd, odd};
  ASSERT_TRUE(s.putApp(r));
  EXPECT_EQ(s.apps().value().at(odd), r);
}

REGISTER_TYPED_TEST_SUITE_P(StoreContractTest, MetaIsSetReplacedAndMissing, CommitOutcomeKeepsTheLatest,
                            AppsArePutReplacedAndDeleted, JournalBeginFinishOpenTrim, EventsAppendSinceLimitTrim,
                            BuildCacheByTreeAndApp, ValuesSurviveAsBytes);

}  // namespace shoal
