#include "cluster/etcd_kv.h"

#include <algorithm>

#include "cluster/etcd_json.h"

namespace shoal {
namespace {

constexpr int kGrpcNotFound = 5;
constexpr int kGrpcUnavailable = 14;

Error grpcError(const etcd::GrpcError& e, const std::string& endpoint, const std::string& what) {
  std::string msg = "etcd " + endpoint + ": " + what + ": " + e.message + " (gRPC code " + std::to_string(e.code) + ")";
  switch (e.code) {
    case 3:   // invalid argument: key not given, request too large, ...
    case 11:  // out of range: a compacted revision
      return Error{ErrorCode::kInvalid, msg, false};
    case 4: return Error{ErrorCode::kTimeout, msg, true};
    case kGrpcNotFound: return Error{ErrorCode::kNotFound, msg, false};
    case 6: return Error{ErrorCode::kConflict, msg, false};
    default: return Error{ErrorCode::kUnavailable, msg, true};  // no leader, too many requests, ...
  }
}

Error leaseGone(LeaseId lease) {
  return Error{ErrorCode::kNotFound, "etcd: lease " + std::to_string(lease) + " not found (expired or revoked)",
               false};
}

}  // namespace

EtcdKv::EtcdKv(EtcdKvOptions options)
    : tls_{options.cert_file, options.key_file, options.ca_file},
      timeout_(options.timeout),
      endpoints_(std::move(options.endpoints)) {}

void EtcdKv::setEndpoints(std::vector<std::string> endpoints) {
  std::lock_guard lock(mu_);
  endpoints_ = std::move(endpoints);
  preferred_ = 0;
  ++generation_;
}

std::vector<std::string> EtcdKv::endpoints() const {
  std::lock_guard lock(mu_);
  return endpoints_;
}

Result<std::string> EtcdKv::call(const std::string& path, const std::string& body, const std::string& what) {
  std::vector<std::string> endpoints;
  size_t preferred = 0;
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    endpoints = endpoints_;
    preferred = preferred_;
    generation = generation_;
  }
  if (endpoints.empty()) return unavailable("etcd: " + what + ": no endpoints configured");
  // The preferred endpoint first, then the others in their configured order.
  std::vector<size_t> order{preferred};
  for (size_t i = 0; i < endpoints.size(); ++i)
    if (i != preferred) order.push_back(i);

  std::vector<Error> failures;
  for (size_t i : order) {
    const std::string& endpoint = endpoints[i];
    auto reply = etcdPost(endpoint, path, body, tls_, timeout_);
    if (!reply) {
      failures.push_back(reply.error());
      continue;
    }
    // Errors are JSON objects led by "error", also inside a stream's 200 answer (keepalive).
    if (reply->status != 200 || reply->body.starts_with("{\"error\"")) {
      auto e = etcd::parseError(reply->body);
      if (!e) {
        failures.push_back(etcd::unparsedReply(endpoint, what, reply->status, reply->body));
        continue;
      }
      Error err = grpcError(*e, endpoint, what);
      if (e->code == kGrpcUnavailable) {
        failures.push_back(std::move(err));
        continue;
      }
      return std::unexpected(std::move(err));
    }
    {
      std::lock_guard lock(mu_);
      if (generation == generation_) preferred_ = i;
    }
    return std::move(reply->body);
  }
  if (failures.size() == 1) return std::unexpected(std::move(failures.front()));
  Error all = failures.back();
  all.message = "etcd: " + what + ": no endpoint answered: ";
  for (size_t i = 0; i < failures.size(); ++i) all.message += (i > 0 ? "; " : "") + failures[i].message;
  return std::unexpected(std::move(all));
}

Status EtcdKv::health() {
  auto body = call("/v3/kv/range", etcd::rangeBody("/shoal/health"), "health check");
  if (!body) return std::unexpected(body.error());
  return ok();
}

Result<bool> EtcdKv::readvertise(const std::vector<std::string>& peer_urls) {
  auto body = call("/v3/cluster/member/list", etcd::memberListBody(), "member list");
  if (!body) return std::unexpected(body.error());
  auto list = etcd::parseMemberList(*body);
  if (!list) return std::unexpected(list.error());
  auto self = std::find_if(list->members.begin(), list->members.end(),
                           [&](const etcd::Member& m) { return m.id == list->self_id; });
  if (self == list->members.end())
    return fail(ErrorCode::kInternal, "etcd: member list does not contain the answering member " + list->self_id);
  auto have = self->peer_urls, want = peer_urls;
  std::sort(have.begin(), have.end());
  std::sort(want.begin(), want.end());
  if (have == want) return false;
  auto updated = call("/v3/cluster/member/update", etcd::memberUpdateBody(self->id, peer_urls),
                      "member update of " + self->name);
  if (!updated) return std::unexpected(updated.error());
  return true;
}

Status EtcdKv::put(const std::string& key, const std::string& value, LeaseId lease) {
  auto body = call("/v3/kv/put", etcd::putBody(key, value, lease), "put " + key);
  if (!body) return std::unexpected(body.error());
  return ok();
}

Result<bool> EtcdKv::putIfAbsent(const std::string& key, const std::string& value, LeaseId lease,
                                 KeyValue* current) {
  auto body = call("/v3/kv/txn", etcd::putIfAbsentBody(key, value, lease), "put-if-absent " + key);
  if (!body) return std::unexpected(body.error());
  auto outcome = etcd::parsePutIfAbsent(*body);
  if (!outcome) return std::unexpected(outcome.error());
  if (!outcome->succeeded && current != nullptr && outcome->current) *current = std::move(*outcome->current);
  return outcome->succeeded;
}

Result<std::optional<KeyValue>> EtcdKv::get(const std::string& key) {
  auto body = call("/v3/kv/range", etcd::rangeBody(key), "get " + key);
  if (!body) return std::unexpected(body.error());
  auto kvs = etcd::parseRange(*body);
  if (!kvs) return std::unexpected(kvs.error());
  if (kvs->empty()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(std::move(kvs->front()));
}

Result<std::vector<KeyValue>> EtcdKv::list(const std::string& prefix) {
  // An empty prefix is every key: etcd reads key "\0" with range_end "\0" as "from \0 to the end".
  std::string start = prefix.empty() ? std::string(1, '\0') : prefix;
  auto body = call("/v3/kv/range", etcd::rangeBody(start, etcd::prefixEnd(prefix)), "list " + prefix);
  if (!body) return std::unexpected(body.error());
  return etcd::parseRange(*body);  // etcd sorts by key unless told otherwise
}

Status EtcdKv::remove(const std::string& key) {
  auto body = call("/v3/kv/deleterange", etcd::deleteBody(key), "delete " + key);
  if (!body) return std::unexpected(body.error());
  return ok();
}

Result<LeaseId> EtcdKv::grantLease(Duration ttl) {
  int64_t seconds = std::max<int64_t>(1, (ttl.count() + 999) / 1000);
  auto body = call("/v3/lease/grant", etcd::grantBody(seconds), "lease grant");
  if (!body) return std::unexpected(body.error());
  return etcd::parseGrant(*body);
}

Status EtcdKv::keepAlive(LeaseId lease) {
  auto body = call("/v3/lease/keepalive", etcd::leaseBody(lease), "keepalive of lease " + std::to_string(lease));
  if (!body) return std::unexpected(body.error());
  auto ttl = etcd::parseKeepAlive(*body);
  if (!ttl) return std::unexpected(ttl.error());
  // A lease that is gone is not an error in etcd's answer: it just has no TTL.
  if (*ttl == 0) return std::unexpected(leaseGone(lease));
  return ok();
}

Status EtcdKv::revokeLease(LeaseId lease) {
  auto body = call("/v3/lease/revoke", etcd::leaseBody(lease), "revoke of lease " + std::to_string(lease));
  if (!body && body.error().code == ErrorCode::kNotFound) return ok();  // already gone: the goal holds
  if (!body) return std::unexpected(body.error());
  return ok();
}

}  // namespace shoal
