#include "cluster/records.h"

#include <nlohmann/json.hpp>

namespace shoal {

using nlohmann::json;

namespace {

json parseObject(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json();
}

}  // namespace

std::string memberToJson(const MemberRecord& m) {
  json facts = {{"cpus", m.facts.cpus},
                {"memory_bytes", m.facts.memory_bytes},
                {"disk_free_bytes", m.facts.disk_free_bytes},
                {"disk_total_bytes", m.facts.disk_total_bytes},
                {"uptime_s", m.facts.uptime_s},
                {"version", m.facts.version},
                {"labels", m.facts.labels}};
  if (m.facts.hub_rtt_ms >= 0) facts["hub_rtt_ms"] = m.facts.hub_rtt_ms;
  json addresses = {{"peer", m.peer_address}, {"api", m.api_address}};
  if (!m.etcd_url.empty()) addresses["etcd"] = m.etcd_url;
  if (!m.etcd_peer_url.empty()) addresses["etcd_peer"] = m.etcd_peer_url;
  json j{{"id", m.id},         {"name", m.name},   {"hub", m.hub},
         {"addresses", addresses}, {"facts", facts}, {"registered_at", m.registered_at},
         {"leaving", m.leaving}};
  if (!m.ready.empty()) j["ready"] = m.ready;
  return j.dump();
}

std::optional<MemberRecord> memberFromJson(const std::string& text) {
  json j = parseObject(text);
  if (!j.contains("id") || !j["id"].is_string()) return std::nullopt;
  try {
    MemberRecord m;
    m.id = j["id"];
    m.name = j.value("name", "");
    m.hub = j.value("hub", false);
    if (j.contains("addresses")) {
      const auto& a = j["addresses"];
      m.peer_address = a.value("peer", "");
      m.api_address = a.value("api", "");
      m.etcd_url = a.value("etcd", "");
      m.etcd_peer_url = a.value("etcd_peer", "");
    }
    if (j.contains("facts")) {
      const auto& f = j["facts"];
      m.facts.cpus = f.value("cpus", 0);
      m.facts.memory_bytes = f.value("memory_bytes", int64_t{0});
      m.facts.disk_free_bytes = f.value("disk_free_bytes", int64_t{0});
      m.facts.disk_total_bytes = f.value("disk_total_bytes", int64_t{0});
      m.facts.uptime_s = f.value("uptime_s", int64_t{0});
      m.facts.hub_rtt_ms = f.value("hub_rtt_ms", -1.0);
      m.facts.version = f.value("version", "");
      if (f.contains("labels")) m.facts.labels = f["labels"].get<std::map<std::string, std::string>>();
    }
    m.registered_at = j.value("registered_at", int64_t{0});
    m.leaving = j.value("leaving", false);
    if (j.contains("ready")) m.ready = j["ready"].get<std::map<std::string, int>>();
    return m;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string hubToJson(const HubRecord& h) {
  return json{{"node", h.node_id},
              {"member_id", std::to_string(h.member_id)},
              {"peer_url", h.peer_url},
              {"state", h.voter ? "voter" : "learner"},
              {"initial_cluster", h.initial_cluster},
              {"since", h.since}}
      .dump();
}

std::optional<HubRecord> hubFromJson(const std::string& text) {
  json j = parseObject(text);
  if (!j.contains("node") || !j["node"].is_string() || !j.contains("member_id")) return std::nullopt;
  try {
    HubRecord h;
    h.node_id = j["node"];
    h.member_id = std::stoull(j["member_id"].get<std::string>());
    h.peer_url = j.value("peer_url", "");
    h.voter = j.value("state", "") == "voter";
    h.initial_cluster = j.value("initial_cluster", "");
    h.since = j.value("since", int64_t{0});
    return h;
  } catch (const std::exception&) {  // json::exception, or stoull's
    return std::nullopt;
  }
}

std::string placementToJson(const PlacementRecord& p) {
  json j = {{"nodes", p.nodes}};
  if (p.missing > 0) {
    j["missing"] = p.missing;
    j["reason"] = p.reason;
  }
  return j.dump();
}

std::optional<PlacementRecord> placementFromJson(const std::string& text) {
  json j = parseObject(text);
  if (!j.contains("nodes") || !j["nodes"].is_object()) return std::nullopt;
  try {
    PlacementRecord p;
    p.nodes = j["nodes"].get<std::map<std::string, int>>();
    p.missing = j.value("missing", 0);
    p.reason = j.value("reason", "");
    return p;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string holdersToJson(const std::vector<std::string>& holders) { return json{{"holders", holders}}.dump(); }

std::optional<std::vector<std::string>> holdersFromJson(const std::string& text) {
  json j = parseObject(text);
  if (!j.contains("holders") || !j["holders"].is_array()) return std::nullopt;
  try {
    return j["holders"].get<std::vector<std::string>>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace shoal
