// The JSON of etcd 3.4's v3 gateway, as pure functions (no I/O): request bodies in, replies out.
// Quirks it hides: keys and values are base64; int64s are JSON strings ("revision":"5"); fields with
// default values are left out (an empty value has no "value", a missing key no "kvs", a failed
// transaction no "succeeded", a lease that is gone no "TTL").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/kv_store.h"
#include "common/error.h"

namespace shoal::etcd {

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

// The range end that selects every key starting with `prefix`: the prefix with its last byte below
// 0xff raised by one (trailing 0xff bytes dropped); "\0" (every key) for "" or all-0xff prefixes.
std::string prefixEnd(const std::string& prefix);

std::string putBody(const std::string& key, const std::string& value, LeaseId lease);
// `range_end` empty: just `key`.
std::string rangeBody(const std::string& key, const std::string& range_end = "");
std::string deleteBody(const std::string& key);
// A transaction: if `key`'s create_revision is 0 (absent) put it, else read it.
std::string putIfAbsentBody(const std::string& key, const std::string& value, LeaseId lease);
std::string grantBody(int64_t ttl_seconds);
std::string leaseBody(LeaseId lease);  // keepalive, revoke
std::string memberListBody();
std::string memberUpdateBody(const std::string& member_id, const std::vector<std::string>& peer_urls);

// The error etcd answers with instead of a result: {"error":"...","message":"...","code":N} (or,
// inside a stream, {"error":{"grpc_code":N,"message":"..."}}).
struct GrpcError {
  int code = 0;  // gRPC status: 5 not found, 14 unavailable, ...
  std::string message;
};
std::optional<GrpcError> parseError(const std::string& body);
// An answer that is neither a result nor an etcd error (a proxy's page, a truncated body):
// retryable kUnavailable "etcd <endpoint>: <what>: HTTP <status>: <first 200 bytes>".
Error unparsedReply(const std::string& endpoint, const std::string& what, long status, const std::string& body);

// Malformed replies are kInternal errors naming what was expected.
Result<std::vector<KeyValue>> parseRange(const std::string& body);
struct TxnOutcome {
  bool succeeded = false;
  std::optional<KeyValue> current;  // the failure branch's read
};
Result<TxnOutcome> parsePutIfAbsent(const std::string& body);
Result<LeaseId> parseGrant(const std::string& body);
// The renewed lease's TTL in seconds; 0 when the lease is gone.
Result<int64_t> parseKeepAlive(const std::string& body);

struct Member {
  std::string id;  // uint64 as a string: it does not fit an int64
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};
struct MemberList {
  std::string self_id;  // the member that answered (the header's member_id)
  std::vector<Member> members;
};
Result<MemberList> parseMemberList(const std::string& body);

}  // namespace shoal::etcd
