#include "cluster/mem_kv.h"

#include <map>
#include <mutex>
#include <set>

namespace shoal {
namespace {

// etcd 3.4's minimum TTL with the default heartbeat (100 ms) and election timeout (1 s):
// 1.5 × election timeout, rounded up to whole seconds.
constexpr int64_t kMinTtlSeconds = 2;

struct Lease {
  Duration ttl{0};
  TimePoint deadline{};
  std::set<std::string> keys;
};

Error leaseNotFound(LeaseId lease) {
  return Error{ErrorCode::kNotFound, "store: lease " + std::to_string(lease) + " not found (expired or revoked)",
               false};
}

}  // namespace

struct MemKv::State {
  explicit State(const Clock& c) : clock(c) {}

  const Clock& clock;
  std::atomic<bool> unavailable{false};

  std::mutex mu;
  int64_t revision = 0;                      // GUARDED_BY(mu)
  LeaseId next_lease = 7001;                 // GUARDED_BY(mu); any non-zero start would do
  std::map<std::string, KeyValue> keys;      // GUARDED_BY(mu); std::string orders bytes unsigned, as etcd
  std::map<LeaseId, Lease> leases;           // GUARDED_BY(mu)

  // Ends every lease whose deadline has passed, deleting its keys. Requires `mu`.
  void expire() {
    TimePoint now = clock.now();
    for (auto it = leases.begin(); it != leases.end();) {
      if (it->second.deadline <= now) {
        dropKeys(it->second);
        it = leases.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Deletes a lease's keys in one revision (etcd revokes a lease in one transaction). Requires `mu`.
  void dropKeys(const Lease& lease) {
    if (lease.keys.empty()) return;
    ++revision;
    for (const auto& key : lease.keys) keys.erase(key);
  }

  void detach(const KeyValue& kv) {
    if (kv.lease == 0) return;
    if (auto it = leases.find(kv.lease); it != leases.end()) it->second.keys.erase(kv.key);
  }

  // Requires `mu`; `lease` must exist (or be 0).
  void write(const std::string& key, const std::string& value, LeaseId lease) {
    ++revision;
    auto [it, created] = keys.try_emplace(key);
    KeyValue& kv = it->second;
    if (created) {
      kv.key = key;
      kv.create_revision = revision;
    } else {
      detach(kv);
    }
    kv.value = value;
    kv.mod_revision = revision;
    kv.lease = lease;
    if (lease != 0) leases[lease].keys.insert(key);
  }
};

MemKv::MemKv(const Clock& clock) : state_(std::make_shared<State>(clock)) {}
MemKv::MemKv(std::shared_ptr<State> state) : state_(std::move(state)) {}
MemKv::~MemKv() = default;

std::unique_ptr<MemKv> MemKv::share() const { return std::unique_ptr<MemKv>(new MemKv(state_)); }

void MemKv::setUnavailableForTest(bool unavailable) { state_->unavailable = unavailable; }
void MemKv::setPartitionedForTest(bool partitioned) { partitioned_ = partitioned; }

void MemKv::copyFrom(const MemKv& other) {
  if (other.state_ == state_) return;
  std::scoped_lock lock(state_->mu, other.state_->mu);
  state_->revision = other.state_->revision;
  state_->next_lease = other.state_->next_lease;
  state_->keys = other.state_->keys;
  state_->leases = other.state_->leases;
}

void MemKv::setNextLease(LeaseId next) {
  std::lock_guard lock(state_->mu);
  state_->next_lease = next;
}

void MemKv::renewLeases() {
  std::lock_guard lock(state_->mu);
  TimePoint now = state_->clock.now();
  for (auto& [id, lease] : state_->leases) lease.deadline = now + lease.ttl;
}

int64_t MemKv::revisionForTest() const {
  std::lock_guard lock(state_->mu);
  return state_->revision;
}

Status MemKv::reachable() const {
  if (state_->unavailable || partitioned_) return unavailable("store: unreachable (test)");
  return ok();
}

Status MemKv::put(const std::string& key, const std::string& value, LeaseId lease) {
  if (auto st = reachable(); !st) return st;
  std::lock_guard lock(state_->mu);
  state_->expire();
  if (lease != 0 && !state_->leases.contains(lease)) return std::unexpected(leaseNotFound(lease));
  state_->write(key, value, lease);
  return ok();
}

Result<bool> MemKv::putIfAbsent(const std::string& key, const std::string& value, LeaseId lease,
                                KeyValue* current) {
  if (auto st = reachable(); !st) return std::unexpected(st.error());
  std::lock_guard lock(state_->mu);
  state_->expire();
  // etcd checks the lease when it applies the transaction's put, so an unknown lease fails the
  // call only when the key is absent.
  if (auto it = state_->keys.find(key); it != state_->keys.end()) {
    if (current != nullptr) *current = it->second;
    return false;
  }
  if (lease != 0 && !state_->leases.contains(lease)) return std::unexpected(leaseNotFound(lease));
  state_->write(key, value, lease);
  return true;
}

Result<std::optional<KeyValue>> MemKv::get(const std::string& key) {
  if (auto st = reachable(); !st) return std::unexpected(st.error());
  std::lock_guard lock(state_->mu);
  state_->expire();
  auto it = state_->keys.find(key);
  if (it == state_->keys.end()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(it->second);
}

Result<std::vector<KeyValue>> MemKv::list(const std::string& prefix) {
  if (auto st = reachable(); !st) return std::unexpected(st.error());
  std::lock_guard lock(state_->mu);
  state_->expire();
  std::vector<KeyValue> out;
  for (auto it = state_->keys.lower_bound(prefix); it != state_->keys.end() && it->first.starts_with(prefix); ++it)
    out.push_back(it->second);
  return out;
}

Status MemKv::remove(const std::string& key) {
  if (auto st = reachable(); !st) return st;
  std::lock_guard lock(state_->mu);
  state_->expire();
  auto it = state_->keys.find(key);
  if (it == state_->keys.end()) return ok();  // etcd: no revision for deleting nothing
  ++state_->revision;
  state_->detach(it->second);
  state_->keys.erase(it);
  return ok();
}

Result<LeaseId> MemKv::grantLease(Duration ttl) {
  if (auto st = reachable(); !st) return std::unexpected(st.error());
  std::lock_guard lock(state_->mu);
  state_->expire();
  int64_t seconds = std::max<int64_t>(kMinTtlSeconds, (ttl.count() + 999) / 1000);
  LeaseId id = state_->next_lease++;
  Lease& lease = state_->leases[id];
  lease.ttl = Duration(seconds * 1000);
  lease.deadline = state_->clock.now() + lease.ttl;
  return id;
}

Status MemKv::keepAlive(LeaseId lease) {
  if (auto st = reachable(); !st) return st;
  std::lock_guard lock(state_->mu);
  state_->expire();
  auto it = state_->leases.find(lease);
  if (it == state_->leases.end()) return std::unexpected(leaseNotFound(lease));
  it->second.deadline = state_->clock.now() + it->second.ttl;
  return ok();
}

Status MemKv::revokeLease(LeaseId lease) {
  if (auto st = reachable(); !st) return st;
  std::lock_guard lock(state_->mu);
  state_->expire();
  auto it = state_->leases.find(lease);
  if (it == state_->leases.end()) return ok();
  state_->dropKeys(it->second);
  state_->leases.erase(it);
  return ok();
}

}  // namespace shoal
