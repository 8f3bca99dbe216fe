#include "cluster/etcd_admin.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <nlohmann/json.hpp>

#include "cluster/etcd_json.h"

namespace shoal {
namespace {

using nlohmann::json;

constexpr int kGrpcNotFound = 5;

// uint64s (member ids) arrive as JSON strings ("8543087242056840113"); accept numbers too. A
// missing field is its default, 0.
std::optional<uint64_t> uint64Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return uint64_t{0};
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    if (v < 0) return std::nullopt;
    return static_cast<uint64_t>(v);
  }
  if (!it->is_string()) return std::nullopt;
  const std::string& s = it->get_ref<const std::string&>();
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::vector<std::string>> stringsField(const json& object, const char* name) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return std::nullopt;
  for (const auto& s : *it) {
    if (!s.is_string()) return std::nullopt;
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::optional<EtcdMember> parseMember(const json& j) {
  if (!j.is_object()) return std::nullopt;
  EtcdMember m;
  auto id = uint64Field(j, "ID");
  auto peers = stringsField(j, "peerURLs");
  auto clients = stringsField(j, "clientURLs");
  if (!id || !peers || !clients) return std::nullopt;
  m.id = *id;
  m.peer_urls = std::move(*peers);
  m.client_urls = std::move(*clients);
  if (auto name = j.find("name"); name != j.end() && name->is_string()) m.name = name->get<std::string>();
  if (auto learner = j.find("isLearner"); learner != j.end() && learner->is_boolean()) m.learner = learner->get<bool>();
  return m;
}

Error malformed(const std::string& what, const std::string& body) {
  return Error{ErrorCode::kInternal, "etcd: unexpected answer to " + what + ": " + body.substr(0, 200), false};
}

std::optional<json> parseObject(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

std::string idBody(uint64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

}  // namespace

namespace etcd {

Result<std::vector<EtcdMember>> parseMembers(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("member list", body));
  std::vector<EtcdMember> out;
  auto it = j->find("members");
  if (it == j->end()) return out;
  if (!it->is_array()) return std::unexpected(malformed("member list", body));
  for (const auto& item : *it) {
    auto m = parseMember(item);
    if (!m) return std::unexpected(malformed("member list", body));
    out.push_back(std::move(*m));
  }
  return out;
}

Result<EtcdMember> parseAddedMember(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("member add", body));
  auto it = j->find("member");
  if (it == j->end()) return std::unexpected(malformed("member add", body));
  auto m = parseMember(*it);
  if (!m || m->id == 0) return std::unexpected(malformed("member add", body));
  return *m;
}

Result<EtcdEndpointStatus> parseStatus(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("status", body));
  EtcdEndpointStatus s;
  auto header = j->find("header");
  if (header == j->end() || !header->is_object()) return std::unexpected(malformed("status", body));
  auto member = uint64Field(*header, "member_id");
  auto leader = uint64Field(*j, "leader");  // left out while there is no leader
  auto index = uint64Field(*j, "raftIndex");
  auto term = uint64Field(*j, "raftTerm");
  if (!member || !leader || !index || !term) return std::unexpected(malformed("status", body));
  s.member_id = *member;
  s.leader = *leader;
  s.raft_index = static_cast<int64_t>(*index);
  s.raft_term = static_cast<int64_t>(*term);
  if (auto learner = j->find("isLearner"); learner != j->end() && learner->is_boolean()) s.learner = learner->get<bool>();
  return s;
}

Error adminError(const std::string& message, int code, const std::string& where) {
  std::string msg = where + ": " + message + " (gRPC code " + std::to_string(code) + ")";
  // The longer promote refusal first: it starts with the shorter one.
  if (contains(message, "can only promote a learner member which is in sync with leader"))
    return Error{ErrorCode::kUnavailable, msg + "; the learner has not caught up yet", true};
  if (contains(message, "can only promote a learner member"))
    return Error{ErrorCode::kInvalid, msg + "; it is a voter already", false};
  if (contains(message, "member not found") || contains(message, "member ID not found"))
    return Error{ErrorCode::kNotFound, msg, false};
  // etcd derives a new member's id from its peer URLs and the time in whole seconds, so the same
  // URL added twice within a second is refused as a duplicate id rather than a duplicate URL.
  if (contains(message, "Peer URLs already exists") || contains(message, "member ID already exist"))
    return Error{ErrorCode::kConflict, msg, false};
  if (contains(message, "too many learner members") || contains(message, "unhealthy cluster") ||
      contains(message, "not enough started members") || contains(message, "no leader") ||
      contains(message, "timed out") || contains(message, "leader changed") ||
      contains(message, "not supported for learner"))
    return Error{ErrorCode::kUnavailable, msg, true};
  switch (code) {
    case 3: return Error{ErrorCode::kInvalid, msg, false};
    case 2:  // "context deadline exceeded": the gateway gave up on etcd
    case 4: return Error{ErrorCode::kTimeout, msg, true};
    case kGrpcNotFound: return Error{ErrorCode::kNotFound, msg, false};
    case 6: return Error{ErrorCode::kConflict, msg, false};
    default: return Error{ErrorCode::kUnavailable, msg, true};
  }
}

}  // namespace etcd

EtcdAdmin::EtcdAdmin(std::vector<std::string> endpoints, EtcdTls tls, Duration timeout)
    : endpoints_(std::move(endpoints)), tls_(std::move(tls)), timeout_(timeout) {}

Result<std::string> EtcdAdmin::call(const std::string& path, const std::string& body, const std::string& what) const {
  if (endpoints_.empty()) return unavailable("etcd: " + what + ": no endpoints configured");
  std::vector<Error> failures;
  for (const std::string& endpoint : endpoints_) {
    auto reply = etcdPost(endpoint, path, body, tls_, timeout_);
    if (!reply) {
      failures.push_back(reply.error());
      continue;
    }
    if (reply->status == 200 && !reply->body.starts_with("{\"error\"")) return std::move(reply->body);
    auto e = etcd::parseError(reply->body);
    if (!e) {
      failures.push_back(etcd::unparsedReply(endpoint, what, reply->status, reply->body));
      continue;
    }
    Error err = etcd::adminError(e->message, e->code, "etcd " + endpoint + ": " + what);
    // A learner serves no membership calls; a voter may.
    if (contains(e->message, "not supported for learner")) {
      failures.push_back(std::move(err));
      continue;
    }
    return std::unexpected(std::move(err));
  }
  if (failures.size() == 1) return std::unexpected(std::move(failures.front()));
  Error all = failures.back();
  all.message = "etcd: " + what + ": no endpoint answered: ";
  for (size_t i = 0; i < failures.size(); ++i) all.message += (i > 0 ? "; " : "") + failures[i].message;
  return std::unexpected(std::move(all));
}

Result<std::vector<EtcdMember>> EtcdAdmin::members() {
  auto body = call("/v3/cluster/member/list", "{}", "member list");
  if (!body) return std::unexpected(body.error());
  return etcd::parseMembers(*body);
}

Result<EtcdMember> EtcdAdmin::addLearner(const std::string& peer_url) {
  std::string request = json{{"peerURLs", json::array({peer_url})}, {"isLearner", true}}.dump();
  auto body = call("/v3/cluster/member/add", request, "add of learner " + peer_url);
  if (!body) return std::unexpected(body.error());
  return etcd::parseAddedMember(*body);
}

Status EtcdAdmin::promote(uint64_t id) {
  auto body = call("/v3/cluster/member/promote", idBody(id), "promote of member " + std::to_string(id));
  if (!body) return std::unexpected(body.error());
  return ok();
}

Status EtcdAdmin::remove(uint64_t id) {
  auto body = call("/v3/cluster/member/remove", idBody(id), "remove of member " + std::to_string(id));
  if (!body) return std::unexpected(body.error());
  return ok();
}

Result<EtcdEndpointStatus> EtcdAdmin::status(const std::string& endpoint) {
  // One endpoint only: the caller asks about this one, not about whichever answers.
  auto reply = etcdPost(endpoint, "/v3/maintenance/status", "{}", tls_, timeout_);
  if (!reply) return std::unexpected(reply.error());
  if (reply->status != 200 || reply->body.starts_with("{\"error\"")) {
    auto e = etcd::parseError(reply->body);
    if (!e) return std::unexpected(etcd::unparsedReply(endpoint, "status", reply->status, reply->body));
    return std::unexpected(etcd::adminError(e->message, e->code, "etcd " + endpoint + ": status"));
  }
  return etcd::parseStatus(reply->body);
}

std::string initialCluster(const std::vector<EtcdMember>& members, const std::string& name,
                           const std::string& peer_url) {
  std::string out;
  auto add = [&](const std::string& member_name, const std::string& url) {
    if (!out.empty()) out += ",";
    out += member_name + "=" + url;
  };
  for (const auto& m : members) {
    bool joining = std::find(m.peer_urls.begin(), m.peer_urls.end(), peer_url) != m.peer_urls.end();
    // Another member that has not started yet has no name. etcd 3.4 still needs it listed: a
    // joining member compares the member count of its --initial-cluster with the cluster's and
    // refuses to start ("member count is unequal") when one is left out. It accepts an empty
    // name, as `etcdctl member add` prints it.
    const std::string& listed = joining ? name : m.name;
    for (const auto& url : m.peer_urls) add(listed, url);
  }
  return out;
}

}  // namespace shoal
