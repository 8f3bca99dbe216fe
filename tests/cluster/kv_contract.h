// The `KvStore` contract: cases that must hold for `MemKv` (kv_store_test) and for a real etcd
// through `EtcdKv` (etcd_test) alike, so the fake provably behaves like etcd. Lease timing is not
// here (etcd expires leases on its own clock); each test file covers it its own way.
//
// An `Env` type provides `static void setUpSuite()`, `static void tearDownSuite()`, a default
// constructor, `KvStore& kv()`, `KvStore& other()` (a second client over the same data) and
// `std::string root()` (a key prefix no other test uses, ending in "/").
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <string>

#include "cluster/kv_store.h"

namespace shoal {

// A fresh prefix per test, so tests sharing one etcd never see each other's keys.
inline std::string uniqueKvRoot() {
  static std::atomic<int> n{0};
  return "/contract/" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "/";
}

template <typename Env>
class KvContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Env::setUpSuite(); }
  static void TearDownTestSuite() { Env::tearDownSuite(); }

  KvStore& kv() { return env_.kv(); }
  std::string key(const std::string& name) { return env_.root() + name; }

  std::optional<KeyValue> read(const std::string& name) {
    auto got = kv().get(key(name));
    EXPECT_TRUE(got) << got.error().str();
    return got ? *got : std::nullopt;
  }
  std::vector<std::string> names(const std::string& prefix) {
    auto listed = kv().list(key(prefix));
    EXPECT_TRUE(listed) << listed.error().str();
    std::vector<std::string> out;
    if (listed)
      for (const auto& kv : *listed) out.push_back(kv.key.substr(env_.root().size()));
    return out;
  }

  Env env_;
};

TYPED_TEST_SUITE_P(KvContract);

#define SHOAL_ASSERT_OK(expr)                                 \
  do {                                                        \
    auto&& shoal_result_ = (expr);                            \
    ASSERT_TRUE(shoal_result_) << shoal_result_.error().str(); \
  } while (0)

TYPED_TEST_P(KvContract, PutThenGet) {
  SHOAL_ASSERT_OK(this->kv().put(this->key("a"), "one"));
  auto got = this->read("a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->key, this->key("a"));
  EXPECT_EQ(got->value, "one");
  EXPECT_GT(got->create_revision, 0);
  EXPECT_EQ(got->mod_revision, got->create_revision);
  EXPECT_EQ(got->lease, 0);
  EXPECT_FALSE(this->read("missing"));
}

TYPED_TEST_P(KvContract, ValuesAreBytes) {
  std::string binary("\0\x01\xff{\"x\":1}\n", 11);
  SHOAL_ASSERT_OK(this->kv().put(this->key("bin"), binary));
  SHOAL_ASSERT_OK(this->kv().put(this->key("empty"), ""));
  EXPECT_EQ(this->read("bin")->value, binary);
  auto empty = this->read("empty");  // etcd leaves an empty value out of its JSON
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->value, "");
}

TYPED_TEST_P(KvContract, OverwriteKeepsCreateRevisionAndRaisesModRevision) {
  SHOAL_ASSERT_OK(this->kv().put(this->key("a"), "one"));
  auto first = *this->read("a");
  SHOAL_ASSERT_OK(this->kv().put(this->key("a"), "two"));
  auto second = *this->read("a");
  EXPECT_EQ(second.value, "two");
  EXPECT_EQ(second.create_revision, first.create_revision);
  EXPECT_GT(second.mod_revision, first.mod_revision);
}

TYPED_TEST_P(KvContract, RevisionsIncreaseAcrossKeysAndRecreation) {
  SHOAL_ASSERT_OK(this->kv().put(this->key("a"), "1"));
  SHOAL_ASSERT_OK(this->kv().put(this->key("b"), "1"));
  auto a = *this->read("a");
  auto b = *this->read("b");
  EXPECT_GT(b.mod_revision, a.mod_revision);
  SHOAL_ASSERT_OK(this->kv().remove(this->key("a")));
  SHOAL_ASSERT_OK(this->kv().put(this->key("a"), "2"));
  auto again = *this->read("a");
  EXPECT_GT(again.create_revision, b.mod_revision);  // a new key, not the old one back
}

TYPED_TEST_P(KvContract, ListIsInKeyOrderAndBoundedByPrefix) {
  for (const char* name : {"p/b", "p/a/x", "p/a", "p0", "o", "p", "q"})
    SHOAL_ASSERT_OK(this->kv().put(this->key(name), name));
  EXPECT_EQ(this->names("p/"), (std::vector<std::string>{"p/a", "p/a/x", "p/b"}));
  EXPECT_EQ(this->names("p"), (std::vector<std::string>{"p", "p/a", "p/a/x", "p/b", "p0"}));
  EXPECT_EQ(this->names("p/a"), (std::vector<std::string>{"p/a", "p/a/x"}));
  EXPECT_TRUE(this->names("none/").empty());
  auto all = this->names("");
  EXPECT_EQ(all.size(), 7u);
  auto listed = this->kv().list(this->key("p/a/x"));
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().value, "p/a/x");
}

TYPED_TEST_P(KvContract, ListOfTheEmptyPrefixIsEveryKey) {
  SHOAL_ASSERT_OK(this->kv().put(this->key("x"), "1"));
  auto all = this->kv().list("");
  ASSERT_TRUE(all) << all.error().str();
  bool found = false;
  for (const auto& kv : *all) found = found || kv.key == this->key("x");
  EXPECT_TRUE(found);
}

TYPED_TEST_P(KvContract, ListPrefixEndingInHighBytes) {
  // The range end of "r\xff" is "s": bytes compare unsigned, and a trailing 0xff carries.
  for (std::string name : {std::string("r\xff"), std::string("r\xff\xff"), std::string("r\xff\x01"),
                           std::string("r\xfe"), std::string("s")})
    SHOAL_ASSERT_OK(this->kv().put(this->key(name), "v"));
  EXPECT_EQ(this->names("r\xff"), (std::vector<std::string>{"r\xff", "r\xff\x01", "r\xff\xff"}));
  EXPECT_EQ(this->names("r"), (std::vector<std::string>{"r\xfe", "r\xff", "r\xff\x01", "r\xff\xff"}));
}

TYPED_TEST_P(KvContract, PutIfAbsentCreatesOnceAndReportsTheCurrent) {
  auto created = this->kv().putIfAbsent(this->key("c"), "first");
  ASSERT_TRUE(created) << created.error().str();
  EXPECT_TRUE(*created);
  auto stored = *this->read("c");

  KeyValue current;
  auto again = this->kv().putIfAbsent(this->key("c"), "second", 0, &current);
  ASSERT_TRUE(again) << again.error().str();
  EXPECT_FALSE(*again);
  EXPECT_EQ(current.key, this->key("c"));
  EXPECT_EQ(current.value, "first");
  EXPECT_EQ(current.create_revision, stored.create_revision);
  EXPECT_EQ(current.mod_revision, stored.mod_revision);
  EXPECT_EQ(this->read("c")->value, "first");
  EXPECT_EQ(this->read("c")->mod_revision, stored.mod_revision);  // nothing written

  auto without_current = this->kv().putIfAbsent(this->key("c"), "third");
  ASSERT_TRUE(without_current);
  EXPECT_FALSE(*without_current);
}

TYPED_TEST_P(KvContract, RemoveDeletesAndAbsentIsNoError) {
  SHOAL_ASSERT_OK(this->kv().put(this->key("d"), "x"));
  SHOAL_ASSERT_OK(this->kv().remove(this->key("d")));
  EXPECT_FALSE(this->read("d"));
  SHOAL_ASSERT_OK(this->kv().remove(this->key("d")));
  SHOAL_ASSERT_OK(this->kv().remove(this->key("never")));
}

TYPED_TEST_P(KvContract, KeysOnALeaseGoAtOnceWhenItIsRevoked) {
  auto lease = this->kv().grantLease(Duration(10000));
  ASSERT_TRUE(lease) << lease.error().str();
  EXPECT_NE(*lease, 0);
  SHOAL_ASSERT_OK(this->kv().put(this->key("l/1"), "x", *lease));
  auto created = this->kv().putIfAbsent(this->key("l/2"), "y", *lease);
  ASSERT_TRUE(created && *created);
  SHOAL_ASSERT_OK(this->kv().put(this->key("kept"), "z"));
  EXPECT_EQ(this->read("l/1")->lease, *lease);
  EXPECT_EQ(this->read("l/2")->lease, *lease);
  SHOAL_ASSERT_OK(this->kv().keepAlive(*lease));

  SHOAL_ASSERT_OK(this->kv().revokeLease(*lease));
  EXPECT_TRUE(this->names("l/").empty());
  EXPECT_TRUE(this->read("kept"));
  SHOAL_ASSERT_OK(this->kv().revokeLease(*lease));  // already gone: no error

  auto renewed = this->kv().keepAlive(*lease);
  ASSERT_FALSE(renewed);
  EXPECT_EQ(renewed.error().code, ErrorCode::kNotFound) << renewed.error().str();
  auto put = this->kv().put(this->key("l/3"), "x", *lease);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kNotFound) << put.error().str();
  auto absent = this->kv().putIfAbsent(this->key("l/4"), "x", *lease);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, ErrorCode::kNotFound) << absent.error().str();
  EXPECT_TRUE(this->names("l/").empty());
}

TYPED_TEST_P(KvContract, PutIfAbsentOfAnExistingKeyDoesNotCheckTheLease) {
  // etcd checks a transaction's lease only on the branch it takes.
  SHOAL_ASSERT_OK(this->kv().put(this->key("e"), "x"));
  KeyValue current;
  auto r = this->kv().putIfAbsent(this->key("e"), "y", 987654321, &current);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_FALSE(*r);
  EXPECT_EQ(current.value, "x");
}

TYPED_TEST_P(KvContract, UnknownLeases) {
  auto put = this->kv().put(this->key("u"), "x", 987654321);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kNotFound) << put.error().str();
  EXPECT_FALSE(this->read("u"));
  auto renewed = this->kv().keepAlive(987654321);
  ASSERT_FALSE(renewed);
  EXPECT_EQ(renewed.error().code, ErrorCode::kNotFound) << renewed.error().str();
  SHOAL_ASSERT_OK(this->kv().revokeLease(987654321));
}

TYPED_TEST_P(KvContract, PutWithoutLeaseDetachesTheKey) {
  auto lease = this->kv().grantLease(Duration(10000));
  ASSERT_TRUE(lease) << lease.error().str();
  SHOAL_ASSERT_OK(this->kv().put(this->key("k"), "x", *lease));
  SHOAL_ASSERT_OK(this->kv().put(this->key("k"), "y"));
  EXPECT_EQ(this->read("k")->lease, 0);
  SHOAL_ASSERT_OK(this->kv().revokeLease(*lease));
  auto still = this->read("k");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->value, "y");
}

TYPED_TEST_P(KvContract, LeasesAreDistinct) {
  auto a = this->kv().grantLease(Duration(5000));
  auto b = this->kv().grantLease(Duration(5000));
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  SHOAL_ASSERT_OK(this->kv().put(this->key("a"), "x", *a));
  SHOAL_ASSERT_OK(this->kv().put(this->key("b"), "x", *b));
  SHOAL_ASSERT_OK(this->kv().revokeLease(*a));
  EXPECT_FALSE(this->read("a"));
  EXPECT_TRUE(this->read("b"));
  SHOAL_ASSERT_OK(this->kv().revokeLease(*b));
}

TYPED_TEST_P(KvContract, TwoClientsShareTheData) {
  KvStore& other = this->env_.other();
  SHOAL_ASSERT_OK(this->kv().put(this->key("shared"), "from one"));
  auto seen = other.get(this->key("shared"));
  ASSERT_TRUE(seen && *seen);
  EXPECT_EQ((*seen)->value, "from one");
  auto created = other.putIfAbsent(this->key("shared"), "from two");
  ASSERT_TRUE(created);
  EXPECT_FALSE(*created);
  auto lease = other.grantLease(Duration(10000));
  ASSERT_TRUE(lease);
  SHOAL_ASSERT_OK(other.put(this->key("theirs"), "x", *lease));
  SHOAL_ASSERT_OK(this->kv().keepAlive(*lease));
  SHOAL_ASSERT_OK(this->kv().revokeLease(*lease));
  auto gone = other.get(this->key("theirs"));
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

REGISTER_TYPED_TEST_SUITE_P(KvContract, PutThenGet, ValuesAreBytes, OverwriteKeepsCreateRevisionAndRaisesModRevision,
                            RevisionsIncreaseAcrossKeysAndRecreation, ListIsInKeyOrderAndBoundedByPrefix, ListOfTheEmptyPrefixIsEveryKey,
                            ListPrefixEndingInHighBytes, PutIfAbsentCreatesOnceAndReportsTheCurrent,
                            RemoveDeletesAndAbsentIsNoError, KeysOnALeaseGoAtOnceWhenItIsRevoked,
                            PutIfAbsentOfAnExistingKeyDoesNotCheckTheLease, UnknownLeases,
                            PutWithoutLeaseDetachesTheKey, LeasesAreDistinct, TwoClientsShareTheData);

}  // namespace shoal
