// node.yaml's `discovery` and `cluster` sections: where a node looks for peers, and how it joins.
//
// The schema checks each value; this file adds what it can't say: one kind per discovery source and
// only that kind's keys, minimum durations, the advertised address, and that no two of the node's
// ports are the same.
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "schemas/short_forms.h"
#include "schemas/spec_builder.h"

namespace shoal {
namespace {

// A discovery source kind: its own key, and the other keys it takes.
struct SourceKind {
  std::string name;
  std::vector<std::string> keys;
};

const std::vector<SourceKind>& sourceKinds() {
  static const std::vector<SourceKind> kinds{{"static", {}},
                                             {"url", {"ca_file"}},
                                             {"dns", {"port", "server"}},
                                             {"git", {"path", "branch", "token_file", "publish"}}};
  return kinds;
}

// The kind of `item`, or nullptr after reporting that it has none or several.
const SourceKind* kindOfSource(const Value& item) {
  std::vector<const SourceKind*> present;
  for (const auto& kind : sourceKinds()) {
    if (item.has(kind.name)) present.push_back(&kind);
  }
  if (present.size() == 1) return present[0];
  std::string message = "needs exactly one of static, url, dns, git";
  for (size_t i = 0; i < present.size(); ++i) {
    message += (i == 0 ? ", got " : i + 1 == present.size() ? " and " : ", ") + present[i]->name;
  }
  item.ctx().error(item.loc(), item.path(), message);
  return nullptr;
}

// Another kind's key is an error, not ignored: `publish` on a dns source would silently do nothing.
void checkSourceKeys(const Value& item, const SourceKind& kind) {
  std::string expected = kind.name;
  for (const auto& key : kind.keys) expected += ", " + key;
  for (const auto& other : sourceKinds()) {
    if (&other == &kind) continue;
    for (const auto& key : other.keys) {
      if (!item.has(key)) continue;
      item.ctx().error(item.keyLoc(key), joinPath(item.path(), key),
                       "not a key of a " + kind.name + " source; expected one of: " + expected);
    }
  }
}

NodeConfig::Discovery::Source readSource(const Value& item, const SourceKind& kind, const std::string& base) {
  NodeConfig::Discovery::Source s;
  s.kind = kind.name;
  if (s.kind == "static") {
    if (auto v = item.field("static")) {
      for (const auto& address : v->items()) s.addresses.push_back(address.text());
    }
  } else if (s.kind == "url") {
    if (auto v = item.field("url")) s.url = v->text();
    if (auto v = item.field("ca_file")) s.ca_file = resolvePath(v->text(), base);
  } else if (s.kind == "dns") {
    if (auto v = item.field("dns")) s.name = v->text();
    if (auto v = item.field("port")) s.port = v->integer();
    if (auto v = item.field("server")) s.server = v->text();
  } else {
    if (auto v = item.field("git")) s.repo = isRepoUrl(v->text()) ? v->text() : resolvePath(v->text(), base);
    if (auto v = item.field("path")) s.path = v->text();
    if (auto v = item.field("branch")) s.branch = v->text();
    if (auto v = item.field("token_file")) s.token_file = resolvePath(v->text(), base);
    if (auto v = item.field("publish")) s.publish = v->boolean();
  }
  return s;
}

Duration durationAtLeast(const Value& v, Duration min) {
  Duration d = v.duration();
  if (d < min) v.ctx().error(v.loc(), v.path(), "must be at least " + formatDuration(min) + ", got " + v.text());
  return d;
}

// A port the node binds, and whether node.yaml sets it (or it is a default).
struct BoundPort {
  Value value;
  bool written;
};

// The status endpoint, the peer endpoint and etcd's two ports can't share a port (0 = any free
// port, which never clashes). Each clash is reported once, where a port is written.
void checkPorts(const Value& root) {
  std::vector<BoundPort> ports;
  auto add = [&](const std::optional<Value>& section, const char* key) {
    if (!section) return;  // written wrong: already reported
    if (auto v = section->field(key); v && v->integer() != 0) ports.push_back(BoundPort{*v, section->has(key)});
  };
  std::optional<Value> cluster = root.field("cluster");
  std::optional<Value> etcd = cluster ? cluster->field("etcd") : std::nullopt;
  add(root.field("api"), "port");
  add(cluster, "port");
  add(etcd, "client_port");
  add(etcd, "peer_port");
  for (size_t i = 1; i < ports.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (ports[i].value.integer() != ports[j].value.integer()) continue;
      bool at_later = ports[i].written || !ports[j].written;
      const Value& at = at_later ? ports[i].value : ports[j].value;
      const Value& other = at_later ? ports[j].value : ports[i].value;
      root.ctx().error(at.loc(), at.path(),
                       "must differ from " + other.path() + " (both " + std::to_string(at.integer()) + ")");
      break;
    }
  }
}

}  // namespace

void readDiscovery(const Value& discovery, const std::string& base, NodeConfig::Discovery& d) {
  if (auto v = discovery.field("timeout")) d.timeout = durationAtLeast(*v, Duration(1));
  if (auto v = discovery.field("sources")) {
    for (const auto& item : v->items()) {
      const SourceKind* kind = kindOfSource(item);
      if (kind == nullptr) continue;
      checkSourceKeys(item, *kind);
      d.sources.push_back(readSource(item, *kind, base));
    }
  }
}

void readCluster(const Value& cluster, const std::string& base, NodeConfig::Cluster& c) {
  if (auto v = cluster.field("listen")) c.listen = v->text();
  if (auto v = cluster.field("port")) c.port = v->integer();
  if (auto v = cluster.field("advertise")) {
    c.advertise = v->text();
    if (!c.advertise.empty() && !isIpAddress(c.advertise)) {
      cluster.ctx().error(v->loc(), v->path(),
                          "must be an IPv4 or IPv6 address (or \"\" to detect it), got \"" + c.advertise + "\"");
    }
  }
  if (auto v = cluster.field("contacts")) c.contacts = v->integer();
  if (auto v = cluster.field("stable_for")) c.stable_for = v->duration();
  if (auto v = cluster.field("probe_interval")) c.probe_interval = durationAtLeast(*v, Duration(1));
  // A shorter lease would expire between two renewals of a busy node and drop a live member.
  if (auto v = cluster.field("lease_ttl")) c.lease_ttl = durationAtLeast(*v, Duration(2000));
  if (auto v = cluster.field("labels")) {
    for (const auto& [key, value] : v->entries()) c.labels[key] = value.text();
  }
  if (auto etcd = cluster.field("etcd")) {
    if (auto v = etcd->field("binary")) {
      c.etcd.binary = v->text().find('/') == std::string::npos ? v->text() : resolvePath(v->text(), base);
    }
    if (auto v = etcd->field("client_port")) c.etcd.client_port = v->integer();
    if (auto v = etcd->field("peer_port")) c.etcd.peer_port = v->integer();
  }
}

void checkNodeSections(const Value& root) {
  if (root.has("discovery") && !root.has("cluster")) {
    root.ctx().error(root.keyLoc("discovery"), "discovery", "needs a cluster: section");
  }
  if (root.has("cluster")) checkPorts(root);
}

}  // namespace shoal
