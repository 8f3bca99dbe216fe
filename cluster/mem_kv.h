// `MemKv`: the in-process fake of the cluster store, behaving like etcd 3.4 for everything
// `KvStore` offers (tests/cluster/kv_contract.h runs the same cases against both).
//
// Like etcd: one store-wide revision counter raised by every change (a put, a delete of an
// existing key, a lease ending with keys attached); `create_revision` kept across overwrites;
// lease TTLs rounded up to whole seconds with a minimum of 2 s (etcd's default minimum); a put
// without a lease detaches the key from its old lease.
//
// Leases expire on the `Clock` given: expiry is checked lazily at the start of every call, so a
// test advances its `FakeClock` past a lease's deadline and the next call no longer sees its keys.
//
// Sharing: `share()` returns another handle over the same data, clock and outage switch (each node
// of a many-nodes-in-one-process test gets its own handle, as each real node has its own etcd
// client). The data lives as long as the last handle. Safe for concurrent use by multiple threads,
// across handles too.
#pragma once

#include <atomic>
#include <memory>

#include "cluster/kv_store.h"

namespace shoal {

class MemKv : public KvStore {
 public:
  explicit MemKv(const Clock& clock);
  ~MemKv() override;

  // Another handle over the same store. Its partition switch starts off.
  std::unique_ptr<MemKv> share() const;

  // Every call on every handle fails with kUnavailable "store: unreachable (test)" while on.
  void setUnavailableForTest(bool unavailable);
  // Only this handle's calls fail (a node cut off from a store the others still reach).
  void setPartitionedForTest(bool partitioned);
  // Every lease's TTL starts over now, expired or not (no expiry is applied first): what etcd does
  // when a new leader is elected, so that a quorum coming back does not expire every lease.
  void renewLeases();
  // Replaces this store's keys, leases and revision with a copy of `other`'s (an etcd member's data
  // copied, as --force-new-cluster starts from it).
  void copyFrom(const MemKv& other);
  // The next lease id granted. etcd draws lease ids from its member id, so two clusters do not
  // hand out the same ids; SimEtcd gives each store its own range the same way.
  void setNextLease(LeaseId next);
  // The store's current revision (0 before the first change).
  int64_t revisionForTest() const;

  Status put(const std::string& key, const std::string& value, LeaseId lease = 0) override;
  Result<bool> putIfAbsent(const std::string& key, const std::string& value, LeaseId lease = 0,
                           KeyValue* current = nullptr) override;
  Result<std::optional<KeyValue>> get(const std::string& key) override;
  Result<std::vector<KeyValue>> list(const std::string& prefix) override;
  Status remove(const std::string& key) override;
  Result<LeaseId> grantLease(Duration ttl) override;
  Status keepAlive(LeaseId lease) override;
  Status revokeLease(LeaseId lease) override;

 private:
  struct State;
  explicit MemKv(std::shared_ptr<State> state);
  Status reachable() const;

  // shared_ptr: every handle made by `share()` owns the same data; the last one frees it.
  std::shared_ptr<State> state_;
  std::atomic<bool> partitioned_{false};
};

}  // namespace shoal
