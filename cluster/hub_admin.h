// The hubs' etcd membership as the cluster's leader changes it: list, add a learner, promote it
// once caught up, remove a member. Real: `EtcdAdmin` (etcd_admin.h), etcd 3.4's v3 gateway over
// mTLS. Every call may fail with kUnavailable/kTimeout (retryable).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace shoal {

struct EtcdMember {
  uint64_t id = 0;
  std::string name;  // empty for a learner that has not started yet
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;  // empty until the member has started
  bool learner = false;
};

// What one etcd endpoint says about itself (`/v3/maintenance/status`); answered without quorum.
struct EtcdEndpointStatus {
  uint64_t member_id = 0;
  uint64_t leader = 0;  // 0: no leader known (no quorum)
  int64_t raft_index = 0;
  int64_t raft_term = 0;
  bool learner = false;
};

class HubAdmin {
 public:
  virtual ~HubAdmin() = default;
  virtual Result<std::vector<EtcdMember>> members() = 0;
  // Adds a learner (non-voting) with `peer_url`; returns it. kConflict when the URL is a member.
  virtual Result<EtcdMember> addLearner(const std::string& peer_url) = 0;
  // Makes a learner a voter. Fails retryably (kUnavailable, "not caught up") while it lags.
  virtual Status promote(uint64_t id) = 0;
  // Removes a member (voter or learner). kNotFound when it is not a member.
  virtual Status remove(uint64_t id) = 0;
  // The status of one endpoint ("https://10.0.0.2:2379").
  virtual Result<EtcdEndpointStatus> status(const std::string& endpoint) = 0;
};

// "name1=https://a:2380,name2=https://b:2380": etcd's --initial-cluster for a member joining
// `members` under `name` at `peer_url`. The unstarted member at `peer_url` is listed as `name`;
// other unstarted members with an empty name ("=https://c:2380"), as `etcdctl member add` prints
// them: etcd refuses a join whose member count differs from the cluster's.
std::string initialCluster(const std::vector<EtcdMember>& members, const std::string& name,
                           const std::string& peer_url);

}  // namespace shoal
