// The records the cluster keeps in its store, and their JSON. Layout (all under /shoal/):
//
//   cluster             {id,name,created_at,origin}            written once by the origin
//   nodes/<id>          MemberRecord                           under the node's lease
//   leader              node id                                under the leader's lease
//   spec/checker, spec/head                                    see membership.h
//   hubs/<id>           HubRecord                              written by the leader
//   roles/<role>        {"holders":[ids]}                      written by the leader (not hub)
//   placement/<app>     PlacementRecord                        written by the leader
//   merge               {cluster,hubs,reason}                  the leader: every node dissolves into it
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shoal {

inline constexpr const char* kClusterKey = "/shoal/cluster";
inline constexpr const char* kNodesPrefix = "/shoal/nodes/";
inline constexpr const char* kLeaderKey = "/shoal/leader";
inline constexpr const char* kHubsPrefix = "/shoal/hubs/";
inline constexpr const char* kRolesPrefix = "/shoal/roles/";
inline constexpr const char* kPlacementPrefix = "/shoal/placement/";
inline constexpr const char* kMergeKey = "/shoal/merge";  // {cluster, hubs, reason}: the leader's
                                                          // order to dissolve into a better cluster

struct NodeFacts {
  int cpus = 0;
  int64_t memory_bytes = 0;
  int64_t disk_free_bytes = 0;
  int64_t disk_total_bytes = 0;
  int64_t uptime_s = 0;
  double hub_rtt_ms = -1;  // round trip of this node's last store call; < 0 unknown
  std::string version;
  std::map<std::string, std::string> labels;
};

struct MemberRecord {
  std::string id;
  std::string name;
  bool hub = false;
  std::string peer_address;   // host:port of the peer endpoint
  std::string api_address;    // host:port of the status endpoint
  std::string etcd_url;       // hubs only: the etcd client URL
  std::string etcd_peer_url;  // where this node's etcd would listen for peers (any node may become a hub)
  NodeFacts facts;
  int64_t registered_at = 0;  // ms
  bool leaving = false;       // shutting down: its roles and replicas are handed over first
  std::map<std::string, int> ready;  // app -> replicas of its current version running healthy here
};
std::string memberToJson(const MemberRecord& m);
std::optional<MemberRecord> memberFromJson(const std::string& text);

// A node the leader made (or is making) an etcd member. The node runs etcd while its record
// exists and stops it, deleting its data, once the record is gone.
struct HubRecord {
  std::string node_id;
  uint64_t member_id = 0;
  std::string peer_url;
  bool voter = false;           // false: a learner, not yet promoted
  std::string initial_cluster;  // for a learner's first start: etcd's --initial-cluster
  int64_t since = 0;            // ms: added at
  bool operator==(const HubRecord&) const = default;
};
std::string hubToJson(const HubRecord& h);
std::optional<HubRecord> hubFromJson(const std::string& text);

// Where the leader placed an app's replicas.
struct PlacementRecord {
  std::map<std::string, int> nodes;  // node id -> replicas
  int missing = 0;                   // replicas that could not be placed
  std::string reason;                // why (empty when missing == 0)
  bool operator==(const PlacementRecord&) const = default;
};
std::string placementToJson(const PlacementRecord& p);
std::optional<PlacementRecord> placementFromJson(const std::string& text);

std::string holdersToJson(const std::vector<std::string>& holders);
std::optional<std::vector<std::string>> holdersFromJson(const std::string& text);

}  // namespace shoal
