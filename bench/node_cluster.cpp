#include "bench/node_cluster.h"

#include <algorithm>

namespace shoal::bench {

using nlohmann::json;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

json NodeCluster::status(const Node& n) const {
  auto r = testing::httpsGet(n.ip, 7443, "/v1/status", nodes_.pkiDir());
  if (!r || r->status != 200) return json::object();
  auto j = json::parse(r->body, nullptr, false);
  return j.is_object() ? j : json::object();
}

const Node* NodeCluster::add(const std::string& node_yaml) {
  Node n{prefix_ + "-" + std::to_string(count_++) + "-" + testing::uniqueName(), "", ""};
  if (!nodes_.run(n.name, net_, "", node_yaml)) return nullptr;
  n.ip = nodes_.ip(n.name);
  live_.push_back(n);
  Node& added = live_.back();
  bool up = testing::waitFor([&] {
    json st = status(added);
    added.id = st.contains("node") ? st["node"].value("id", "") : "";
    return !added.id.empty();
  }, std::chrono::seconds(60), std::chrono::milliseconds(100));
  return up ? &added : nullptr;
}

void NodeCluster::kill(const std::string& name) {
  nodes_.kill(name);
  std::erase_if(live_, [&](const Node& n) { return n.name == name; });
}

int NodeCluster::stop(const std::string& name) {
  int code = nodes_.stop(name);
  std::erase_if(live_, [&](const Node& n) { return n.name == name; });
  return code;
}

bool NodeCluster::settled(size_t count) const {
  std::set<std::string> ids, first;
  for (const auto& n : live_) ids.insert(n.id);
  for (size_t i = 0; i < live_.size(); ++i) {
    json c = status(live_[i]).value("cluster", json::object());
    if (c.value("phase", "") != "member" || c.value("size", -1) != static_cast<int>(live_.size())) return false;
    std::set<std::string> voters;
    for (const auto& h : c.value("hubs", json::array())) {
      if (h.value("state", "") != "voter" || !ids.contains(h.value("node", ""))) return false;
      voters.insert(h.value("node", ""));
    }
    if (voters.size() != count || (i > 0 && voters != first)) return false;
    first = voters;
  }
  return true;
}

json NodeCluster::cluster() const {
  return live_.empty() ? json::object() : status(live_[0]).value("cluster", json::object());
}

std::set<std::string> NodeCluster::voters() const {
  std::set<std::string> out;
  for (const auto& h : cluster().value("hubs", json::array()))
    if (h.value("state", "") == "voter") out.insert(h.value("node", ""));
  return out;
}

std::string NodeCluster::leader() const { return cluster().value("leader", ""); }

std::string NodeCluster::dump() const {
  std::string out;
  for (const auto& n : live_) out += n.name + " " + n.id + ": " + status(n).value("cluster", json::object()).dump() + "\n";
  return out;
}

}  // namespace shoal::bench
