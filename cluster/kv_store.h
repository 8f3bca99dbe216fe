// The cluster's shared store as membership sees it: keys, values, leases. `EtcdKv` (etcd_kv.h)
// speaks etcd 3.4's v3 JSON gateway over mTLS; `MemKv` (mem_kv.h) is the in-process fake beside it,
// with lease expiry on a Clock and an outage switch for tests.
//
// Every call may fail with kUnavailable (store unreachable; retryable) or kTimeout. Keys are plain
// strings ("/shoal/nodes/ab12..."); values are opaque bytes (JSON by convention).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

using LeaseId = int64_t;

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  LeaseId lease = 0;  // 0: not attached to a lease
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // Sets `key` (attached to `lease` when non-zero; the key is deleted when the lease ends).
  // kNotFound when `lease` does not exist (expired or revoked).
  virtual Status put(const std::string& key, const std::string& value, LeaseId lease = 0) = 0;
  // Sets `key` only if it does not exist (one etcd transaction). True when this call created it;
  // false (and `current` filled when given) when it existed.
  virtual Result<bool> putIfAbsent(const std::string& key, const std::string& value, LeaseId lease = 0,
                                   KeyValue* current = nullptr) = 0;
  virtual Result<std::optional<KeyValue>> get(const std::string& key) = 0;
  // Every key starting with `prefix`, in key order.
  virtual Result<std::vector<KeyValue>> list(const std::string& prefix) = 0;
  // Deletes `key`; no error when it is absent.
  virtual Status remove(const std::string& key) = 0;

  // A new lease of `ttl` (etcd rounds it up to its minimum, and to whole seconds).
  virtual Result<LeaseId> grantLease(Duration ttl) = 0;
  // Renews `lease` once. kNotFound when it has expired or was revoked.
  virtual Status keepAlive(LeaseId lease) = 0;
  // Ends `lease` now: its keys disappear at once. No error when it is already gone.
  virtual Status revokeLease(LeaseId lease) = 0;
};
using KvStorePtr = std::unique_ptr<KvStore>;

}  // namespace shoal
