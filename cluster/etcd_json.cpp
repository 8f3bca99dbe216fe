#include "cluster/etcd_json.h"

#include <nlohmann/json.hpp>

namespace shoal::etcd {
namespace {

using nlohmann::json;

constexpr const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// int64 fields arrive as strings ("5"); accept numbers too.
std::optional<int64_t> int64Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return int64_t{0};  // default values are left out
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return std::nullopt;
  const std::string& s = it->get_ref<const std::string&>();
  try {
    size_t used = 0;
    int64_t v = std::stoll(s, &used);
    if (used != s.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::string> bytesField(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return base64Decode(it->get_ref<const std::string&>());
}

Error malformed(const std::string& what, const std::string& body) {
  return Error{ErrorCode::kInternal,
               "etcd: unexpected answer to " + what + ": " + body.substr(0, 200), false};
}

std::optional<json> parseObject(const std::string& body) {
  // The keepalive stream ends its one document with a newline; only the first line matters.
  json j = json::parse(body.substr(0, body.find('\n')), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::optional<KeyValue> parseKv(const json& j) {
  if (!j.is_object()) return std::nullopt;
  KeyValue kv;
  auto key = bytesField(j, "key");
  auto value = bytesField(j, "value");
  auto create = int64Field(j, "create_revision");
  auto mod = int64Field(j, "mod_revision");
  auto lease = int64Field(j, "lease");
  if (!key || !value || !create || !mod || !lease) return std::nullopt;
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = *create;
  kv.mod_revision = *mod;
  kv.lease = *lease;
  return kv;
}

std::optional<std::vector<KeyValue>> parseKvs(const json& range) {
  std::vector<KeyValue> out;
  auto it = range.find("kvs");
  if (it == range.end()) return out;  // no keys: the field is left out
  if (!it->is_array()) return std::nullopt;
  for (const auto& item : *it) {
    auto kv = parseKv(item);
    if (!kv) return std::nullopt;
    out.push_back(std::move(*kv));
  }
  return out;
}

json putRequest(const std::string& key, const std::string& value, LeaseId lease) {
  json put = {{"key", base64Encode(key)}, {"value", base64Encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return put;
}

// nlohmann's `value()` throws on a type mismatch; these never throw.
std::string stringField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool boolField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

int intField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::vector<std::string> strings(const json& object, const char* name) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& s : *it)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

}  // namespace

std::string base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (rest == 2) n |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    int v = value(ch);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string prefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: key "\0" to range_end "\0" is every key
}

std::string putBody(const std::string& key, const std::string& value, LeaseId lease) {
  return putRequest(key, value, lease).dump();
}

std::string rangeBody(const std::string& key, const std::string& range_end) {
  json j = {{"key", base64Encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64Encode(range_end);
  return j.dump();
}

std::string deleteBody(const std::string& key) { return json{{"key", base64Encode(key)}}.dump(); }

std::string putIfAbsentBody(const std::string& key, const std::string& value, LeaseId lease) {
  json compare = {{"key", base64Encode(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
  json j = {{"compare", json::array({compare})},
            {"success", json::array({{{"request_put", putRequest(key, value, lease)}}})},
            {"failure", json::array({{{"request_range", {{"key", base64Encode(key)}}}}})}};
  return j.dump();
}

std::string grantBody(int64_t ttl_seconds) { return json{{"TTL", std::to_string(ttl_seconds)}}.dump(); }
std::string leaseBody(LeaseId lease) { return json{{"ID", std::to_string(lease)}}.dump(); }
std::string memberListBody() { return "{}"; }

std::string memberUpdateBody(const std::string& member_id, const std::vector<std::string>& peer_urls) {
  return json{{"ID", member_id}, {"peerURLs", peer_urls}}.dump();
}

Error unparsedReply(const std::string& endpoint, const std::string& what, long status, const std::string& body) {
  return Error{ErrorCode::kUnavailable,
               "etcd " + endpoint + ": " + what + ": HTTP " + std::to_string(status) + ": " + body.substr(0, 200), true};
}

std::optional<GrpcError> parseError(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::nullopt;
  auto it = j->find("error");
  if (it == j->end()) return std::nullopt;
  GrpcError e;
  if (it->is_string()) {  // unary calls: {"error":"...","message":"...","code":5}
    e.message = it->get<std::string>();
    e.code = intField(*j, "code");
    return e;
  }
  if (it->is_object()) {  // streams: {"error":{"grpc_code":5,"message":"..."}}
    e.message = stringField(*it, "message");
    e.code = intField(*it, "grpc_code");
    return e;
  }
  return std::nullopt;
}

Result<std::vector<KeyValue>> parseRange(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("range", body));
  auto kvs = parseKvs(*j);
  if (!kvs) return std::unexpected(malformed("range", body));
  return std::move(*kvs);
}

Result<TxnOutcome> parsePutIfAbsent(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("txn", body));
  TxnOutcome out;
  out.succeeded = boolField(*j, "succeeded");
  if (out.succeeded) return out;
  // responses[0].response_range: the failure branch's read of the key.
  auto responses = j->find("responses");
  if (responses == j->end() || !responses->is_array() || responses->empty())
    return std::unexpected(malformed("txn", body));
  const json& first = (*responses)[0];
  auto range = first.find("response_range");
  if (range == first.end()) return std::unexpected(malformed("txn", body));
  auto kvs = parseKvs(*range);
  if (!kvs) return std::unexpected(malformed("txn", body));
  // Empty only if the key was deleted between compare and read, which one transaction rules out.
  if (!kvs->empty()) out.current = std::move(kvs->front());
  return out;
}

Result<LeaseId> parseGrant(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("lease grant", body));
  auto id = int64Field(*j, "ID");
  if (!id || *id == 0) return std::unexpected(malformed("lease grant", body));
  return *id;
}

Result<int64_t> parseKeepAlive(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("lease keepalive", body));
  auto result = j->find("result");
  if (result == j->end() || !result->is_object()) return std::unexpected(malformed("lease keepalive", body));
  auto ttl = int64Field(*result, "TTL");
  if (!ttl) return std::unexpected(malformed("lease keepalive", body));
  return std::max<int64_t>(0, *ttl);  // etcd answers -1 in some versions for a lease that is gone
}

Result<MemberList> parseMemberList(const std::string& body) {
  auto j = parseObject(body);
  if (!j) return std::unexpected(malformed("member list", body));
  MemberList out;
  if (auto header = j->find("header"); header != j->end() && header->is_object())
    out.self_id = stringField(*header, "member_id");
  auto members = j->find("members");
  if (members == j->end() || !members->is_array()) return std::unexpected(malformed("member list", body));
  for (const auto& m : *members) {
    if (!m.is_object()) return std::unexpected(malformed("member list", body));
    Member member;
    member.id = stringField(m, "ID");
    member.name = stringField(m, "name");
    member.peer_urls = strings(m, "peerURLs");
    member.client_urls = strings(m, "clientURLs");
    out.members.push_back(std::move(member));
  }
  return out;
}

}  // namespace shoal::etcd
