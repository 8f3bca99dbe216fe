// `EtcdAdmin`: `HubAdmin` over etcd 3.4's v3 JSON gateway (`/v3/cluster/member/*`,
// `/v3/maintenance/status`) with mutual TLS from the cluster CA. See doc/etcd.md, "Several hubs".
//
// Endpoints are tried in order. The next one is tried only when a call could not be made (the
// endpoint can't be reached or timed out) or the endpoint is a learner, which refuses membership
// calls; any other answer from etcd is final, because repeating a membership change elsewhere
// after it may have been applied would turn, say, a successful add into a conflict.
//
// etcd's refusals map to shoal codes (the strings are etcd 3.4.23's):
//   "can only promote a learner member which is in sync with leader"  kUnavailable, retryable
//   "can only promote a learner member" (it is a voter already)       kInvalid
//   "member not found"                                                 kNotFound
//   "Peer URLs already exists", "member ID already exist"              kConflict
//   "too many learner members in cluster", "unhealthy cluster",
//   "re-configuration failed due to not enough started members",
//   "no leader", "request timed out", "rpc not supported for learner"  kUnavailable, retryable
//
// Safe for concurrent use by multiple threads (no mutable state). Do not run two membership
// changes at once against one cluster: etcd 3.4 can hold the second until the client times out.
#pragma once

#include <string>
#include <vector>

#include "cluster/etcd_http.h"
#include "cluster/hub_admin.h"

namespace shoal {

class EtcdAdmin : public HubAdmin {
 public:
  // `endpoints`: client URLs ("https://10.0.0.2:2379"); `timeout` per endpoint per call.
  EtcdAdmin(std::vector<std::string> endpoints, EtcdTls tls, Duration timeout = Duration(5000));

  Result<std::vector<EtcdMember>> members() override;
  Result<EtcdMember> addLearner(const std::string& peer_url) override;
  Status promote(uint64_t id) override;
  Status remove(uint64_t id) override;
  Result<EtcdEndpointStatus> status(const std::string& endpoint) override;

 private:
  // The body of the first 200 answer, or the error (see the header comment for which errors move
  // on to the next endpoint). `what` names the call in messages ("promote of member 12").
  Result<std::string> call(const std::string& path, const std::string& body, const std::string& what) const;

  const std::vector<std::string> endpoints_;
  const EtcdTls tls_;
  const Duration timeout_;
};

namespace etcd {
// The gateway's JSON for membership, as pure functions (tested without etcd).
Result<std::vector<EtcdMember>> parseMembers(const std::string& body);
Result<EtcdMember> parseAddedMember(const std::string& body);
Result<EtcdEndpointStatus> parseStatus(const std::string& body);
// The shoal error for etcd's error answer `message` with gRPC `code`, prefixed by `where`.
Error adminError(const std::string& message, int code, const std::string& where);
}  // namespace etcd

}  // namespace shoal
