// `EtcdKv`: the cluster store over etcd 3.4's v3 JSON gateway (POST /v3/kv/..., /v3/lease/...),
// with mutual TLS from the cluster CA. See doc/etcd.md for the gateway's quirks.
//
// Endpoints are tried in order; the first that answers serves this call and is tried first next
// time. An endpoint that can't be reached, times out, or answers gRPC code 14 (unavailable: no
// leader, gateway can't reach its server) makes the call move on to the next; any other answer is
// final. A call that timed out may still have been applied: `put` and `keepAlive` are safe to
// repeat, a repeated `putIfAbsent` may report false for the key it created itself.
//
// Safe for concurrent use by multiple threads (one curl handle per call; the endpoint list is
// guarded).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "cluster/etcd_http.h"
#include "cluster/kv_store.h"

namespace shoal {

struct EtcdKvOptions {
  std::vector<std::string> endpoints{"https://127.0.0.1:2379"};
  std::string cert_file;  // this node's certificate (from the cluster CA) and key
  std::string key_file;
  std::string ca_file;    // the cluster CA: the only certificate trusted; host names are not checked
  Duration timeout{2000};  // per endpoint per call, connecting included
};

class EtcdKv : public KvStore {
 public:
  explicit EtcdKv(EtcdKvOptions options);

  // Replaces the endpoints (the hub moved); calls in flight finish on the old ones.
  void setEndpoints(std::vector<std::string> endpoints);
  std::vector<std::string> endpoints() const;

  // A read of one key: ok when some endpoint serves the v3 API (not just /health).
  Status health();
  // Makes the stored peer URLs of the member answering this call `peer_urls` when they differ (it
  // restarted from its data at a new address). True when it changed them. Call it from one place
  // only (EtcdProcess does, before `start()` returns): raft drops a membership change proposed
  // while another is pending, and etcd then holds the dropped call until the client times out.
  Result<bool> readvertise(const std::vector<std::string>& peer_urls);

  Status put(const std::string& key, const std::string& value, LeaseId lease = 0) override;
  Result<bool> putIfAbsent(const std::string& key, const std::string& value, LeaseId lease = 0,
                           KeyValue* current = nullptr) override;
  Result<std::optional<KeyValue>> get(const std::string& key) override;
  Result<std::vector<KeyValue>> list(const std::string& prefix) override;
  Status remove(const std::string& key) override;
  // TTL rounded up to whole seconds; etcd raises it to its minimum (2 s by default).
  Result<LeaseId> grantLease(Duration ttl) override;
  Status keepAlive(LeaseId lease) override;
  Status revokeLease(LeaseId lease) override;

 private:
  // POSTs to the endpoints in turn; the body of the first 200 answer, or the final error.
  // `what` names the call in messages ("put /shoal/nodes/ab").
  Result<std::string> call(const std::string& path, const std::string& body, const std::string& what);

  const EtcdTls tls_;
  const Duration timeout_;
  mutable std::mutex mu_;
  std::vector<std::string> endpoints_;  // GUARDED_BY(mu_)
  size_t preferred_ = 0;                // GUARDED_BY(mu_): index of the last endpoint that answered
  uint64_t generation_ = 0;             // GUARDED_BY(mu_): bumped by setEndpoints
};

}  // namespace shoal
