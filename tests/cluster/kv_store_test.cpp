// MemKv, the in-process fake of the cluster store: the shared contract (also run against etcd in
// etcd_test), then what only the fake can show quickly: lease expiry on a FakeClock, the outage
// switches, handles sharing one store.
#include "cluster/mem_kv.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/cluster/kv_contract.h"

namespace shoal {
namespace {

struct MemEnv {
  static void setUpSuite() {}
  static void tearDownSuite() {}
  KvStore& kv() { return store; }
  KvStore& other() { return *second; }
  std::string root() const { return prefix; }

  FakeClock clock;
  MemKv store{clock};
  std::unique_ptr<MemKv> second = store.share();
  std::string prefix = uniqueKvRoot();
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Mem, KvContract, MemEnv);

namespace {

class MemKvTest : public ::testing::Test {
 protected:
  bool has(const std::string& key) {
    auto got = kv_.get(key);
    EXPECT_TRUE(got) << got.error().str();
    return got && got->has_value();
  }

  FakeClock clock_;
  MemKv kv_{clock_};
};

TEST_F(MemKvTest, LeaseExpiryOnTheClockRemovesItsKeys) {
  auto lease = kv_.grantLease(Duration(5000));
  ASSERT_TRUE(lease);
  ASSERT_TRUE(kv_.put("/n/a", "x", *lease));
  ASSERT_TRUE(kv_.put("/n/b", "y"));
  clock_.advance(Duration(4999));
  EXPECT_TRUE(has("/n/a"));
  clock_.advance(Duration(1));
  EXPECT_FALSE(has("/n/a"));
  EXPECT_TRUE(has("/n/b"));
  auto listed = kv_.list("/n/");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(MemKvTest, KeepAliveExtendsByTheTtl) {
  auto lease = kv_.grantLease(Duration(5000));
  ASSERT_TRUE(lease);
  ASSERT_TRUE(kv_.put("/k", "x", *lease));
  for (int i = 0; i < 5; ++i) {
    clock_.advance(Duration(4000));
    ASSERT_TRUE(kv_.keepAlive(*lease)) << i;
  }
  EXPECT_TRUE(has("/k"));
  clock_.advance(Duration(5000));
  EXPECT_FALSE(has("/k"));
}

TEST_F(MemKvTest, KeepAliveOrPutOnAnExpiredLeaseIsNotFound) {
  auto lease = kv_.grantLease(Duration(3000));
  ASSERT_TRUE(lease);
  clock_.advance(Duration(3000));
  auto renewed = kv_.keepAlive(*lease);
  ASSERT_FALSE(renewed);
  EXPECT_EQ(renewed.error().code, ErrorCode::kNotFound);
  EXPECT_NE(renewed.error().message.find(std::to_string(*lease)), std::string::npos) << renewed.error().message;
  auto put = kv_.put("/k", "x", *lease);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(has("/k"));
  EXPECT_TRUE(kv_.revokeLease(*lease));
}

TEST_F(MemKvTest, TtlIsWholeSecondsAndAtLeastEtcdsMinimum) {
  auto short_lease = kv_.grantLease(Duration(100));  // etcd raises it to 2 s
  auto odd_lease = kv_.grantLease(Duration(2500));   // rounded up to 3 s
  ASSERT_TRUE(short_lease && odd_lease);
  ASSERT_TRUE(kv_.put("/short", "x", *short_lease));
  ASSERT_TRUE(kv_.put("/odd", "x", *odd_lease));
  clock_.advance(Duration(1999));
  EXPECT_TRUE(has("/short"));
  clock_.advance(Duration(1));
  EXPECT_FALSE(has("/short"));
  clock_.advance(Duration(999));
  EXPECT_TRUE(has("/odd"));
  clock_.advance(Duration(1));
  EXPECT_FALSE(has("/odd"));
}

TEST_F(MemKvTest, ExpiryIsOneRevisionPerLeaseWithKeys) {
  auto lease = kv_.grantLease(Duration(2000));
  auto empty = kv_.grantLease(Duration(2000));
  ASSERT_TRUE(lease && empty);
  ASSERT_TRUE(kv_.put("/a", "x", *lease));
  ASSERT_TRUE(kv_.put("/b", "x", *lease));
  int64_t before = kv_.revisionForTest();
  clock_.advance(Duration(2000));
  EXPECT_FALSE(has("/a"));
  EXPECT_EQ(kv_.revisionForTest(), before + 1);
}

TEST_F(MemKvTest, RevisionsMoveOnlyOnChanges) {
  EXPECT_EQ(kv_.revisionForTest(), 0);
  ASSERT_TRUE(kv_.put("/a", "x"));
  EXPECT_EQ(kv_.revisionForTest(), 1);
  ASSERT_TRUE(kv_.remove("/missing"));
  ASSERT_TRUE(kv_.putIfAbsent("/a", "y"));
  ASSERT_TRUE(kv_.get("/a"));
  EXPECT_EQ(kv_.revisionForTest(), 1);
  ASSERT_TRUE(kv_.remove("/a"));
  EXPECT_EQ(kv_.revisionForTest(), 2);
}

TEST_F(MemKvTest, UnavailableSwitchFailsEveryCallOfEveryHandle) {
  auto other = kv_.share();
  auto lease = kv_.grantLease(Duration(5000));
  ASSERT_TRUE(lease);
  ASSERT_TRUE(kv_.put("/k", "x"));
  kv_.setUnavailableForTest(true);
  for (KvStore* s : {static_cast<KvStore*>(&kv_), static_cast<KvStore*>(other.get())}) {
    std::vector<Error> errors;
    auto collect = [&](const auto& r) {
      ASSERT_FALSE(r);
      errors.push_back(r.error());
    };
    collect(s->put("/k", "y"));
    collect(s->putIfAbsent("/j", "y"));
    collect(s->get("/k"));
    collect(s->list("/"));
    collect(s->remove("/k"));
    collect(s->grantLease(Duration(5000)));
    collect(s->keepAlive(*lease));
    collect(s->revokeLease(*lease));
    ASSERT_EQ(errors.size(), 8u);
    for (const auto& e : errors) {
      EXPECT_EQ(e.code, ErrorCode::kUnavailable);
      EXPECT_TRUE(e.retryable);
      EXPECT_EQ(e.message, "store: unreachable (test)");
    }
  }
  kv_.setUnavailableForTest(false);
  EXPECT_TRUE(has("/k"));
  EXPECT_TRUE(other->keepAlive(*lease));
}

TEST_F(MemKvTest, PartitionCutsOffOneHandleOnly) {
  auto other = kv_.share();
  other->setPartitionedForTest(true);
  auto put = other->put("/k", "x");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
  ASSERT_TRUE(kv_.put("/k", "x"));
  other->setPartitionedForTest(false);
  auto got = other->get("/k");
  ASSERT_TRUE(got && *got);
}

TEST_F(MemKvTest, HandlesOutliveTheOriginal) {
  std::unique_ptr<MemKv> other;
  {
    MemKv first(clock_);
    ASSERT_TRUE(first.put("/k", "x"));
    other = first.share();
  }
  auto got = other->get("/k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "x");
}

TEST_F(MemKvTest, ConcurrentPutIfAbsentHasOneWinner) {
  std::vector<std::unique_ptr<MemKv>> handles;
  for (int i = 0; i < 8; ++i) handles.push_back(kv_.share());
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 200; ++round) {
        auto r = handles[i]->putIfAbsent("/race/" + std::to_string(round), std::to_string(i));
        if (r && *r) ++winners;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 200);
  auto listed = kv_.list("/race/");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 200u);
}

}  // namespace
}  // namespace shoal
