#include "reconcile/desired.h"

#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "common/hash.h"

namespace shoal {

using json = nlohmann::json;

const char* activationName(Activation a) {
  switch (a) {
    case Activation::kRun: return "run";
    case Activation::kPause: return "pause";
    case Activation::kStop: return "stop";
    case Activation::kKeep: return "keep";
  }
  return "?";
}

Activation activationFor(const ClusterSpec& cluster, int cluster_size) {
  if (cluster_size >= cluster.min_nodes) return Activation::kRun;
  switch (cluster.below_min) {
    case BelowMin::kPause: return Activation::kPause;
    case BelowMin::kStop: return Activation::kStop;
    case BelowMin::kKeep: return Activation::kKeep;
  }
  return Activation::kPause;
}

ContainerConfig containerConfigFor(const AppSpec& app, const std::string& image, const std::string& cluster,
                                   const std::string& node_id, const std::string& commit) {
  ContainerConfig c;
  c.image = image;
  c.cmd = app.command;
  c.env = app.env;
  c.labels = app.labels;
  c.labels[kLabelCluster] = cluster;
  c.labels[kLabelNode] = node_id;
  c.labels[kLabelApp] = app.name;
  c.labels[kLabelCommit] = commit;
  for (const PortSpec& p : app.ports) {
    PortBinding b;
    b.container_port = p.container;
    b.protocol = p.protocol;
    b.host_ip = p.host_ip == "0.0.0.0" ? "" : p.host_ip;
    if (p.host_from > 0) {
      b.host_port = p.host_from == p.host_to ? std::to_string(p.host_from)
                                             : std::to_string(p.host_from) + "-" + std::to_string(p.host_to);
    }
    c.ports.push_back(b);
  }
  for (const VolumeSpec& v : app.volumes) c.volumes.push_back({v.name, v.target, v.read_only});
  c.memory_bytes = app.resources.memory_bytes;
  c.nano_cpus = static_cast<int64_t>(app.resources.cpus * 1e9);
  c.restart_policy = app.restart;
  if (app.health) {
    c.health = Healthcheck{app.health->cmd, app.health->interval, app.health->timeout, app.health->start_period,
                           app.health->retries};
  }
  c.labels[kLabelSpec] = specHash(c);
  return c;
}

namespace {

json configToJson(const ContainerConfig& c) {
  json j;
  j["image"] = c.image;
  j["cmd"] = c.cmd;
  j["env"] = c.env;
  j["labels"] = c.labels;
  json ports = json::array();
  for (const auto& p : c.ports) {
    ports.push_back({{"container", p.container_port}, {"protocol", p.protocol}, {"host_ip", p.host_ip},
                     {"host_port", p.host_port}});
  }
  j["ports"] = ports;
  json vols = json::array();
  for (const auto& v : c.volumes) vols.push_back({{"volume", v.volume}, {"target", v.target}, {"ro", v.read_only}});
  j["volumes"] = vols;
  j["memory"] = c.memory_bytes;
  j["nano_cpus"] = c.nano_cpus;
  j["restart"] = c.restart_policy;
  j["init"] = c.init;
  if (c.health) {
    j["health"] = {{"test", c.health->test},
                   {"interval", c.health->interval.count()},
                   {"timeout", c.health->timeout.count()},
                   {"start_period", c.health->start_period.count()},
                   {"retries", c.health->retries}};
  }
  return j;
}

ContainerConfig configFromJson(const json& j) {
  ContainerConfig c;
  c.image = j.at("image").get<std::string>();
  c.cmd = j.at("cmd").get<std::vector<std::string>>();
  c.env = j.at("env").get<std::map<std::string, std::string>>();
  c.labels = j.at("labels").get<Labels>();
  for (const auto& p : j.at("ports")) {
    c.ports.push_back({p.at("container").get<int>(), p.at("protocol").get<std::string>(),
                       p.at("host_ip").get<std::string>(), p.at("host_port").get<std::string>()});
  }
  for (const auto& v : j.at("volumes")) {
    c.volumes.push_back({v.at("volume").get<std::string>(), v.at("target").get<std::string>(), v.at("ro").get<bool>()});
  }
  c.memory_bytes = j.at("memory").get<int64_t>();
  c.nano_cpus = j.at("nano_cpus").get<int64_t>();
  c.restart_policy = j.at("restart").get<std::string>();
  c.init = j.at("init").get<bool>();
  if (j.contains("health")) {
    const json& h = j["health"];
    c.health = Healthcheck{h.at("test").get<std::vector<std::string>>(), Duration(h.at("interval").get<int64_t>()),
                           Duration(h.at("timeout").get<int64_t>()), Duration(h.at("start_period").get<int64_t>()),
                           h.at("retries").get<int>()};
  }
  return c;
}

}  // namespace

std::string specHash(const ContainerConfig& config) {
  json j = configToJson(config);
  // Neither the commit nor the hash itself is part of what makes two containers different.
  j["labels"].erase(kLabelCommit);
  j["labels"].erase(kLabelSpec);
  return stableHash(j.dump());  // nlohmann's default object keeps keys sorted: stable text
}

std::string desiredAppToJson(const DesiredApp& app) {
  json j;
  j["name"] = app.name;
  j["hash"] = app.hash;
  j["config"] = configToJson(app.config);
  j["replicas"] = app.replicas;
  j["placement"] = placementName(app.placement);
  j["max_surge"] = app.update.max_surge;
  j["max_unavailable"] = app.update.max_unavailable;
  j["depends_on"] = app.depends_on;
  j["has_health"] = app.has_health;
  j["health_deadline_ms"] = app.health_deadline.count();
  j["health_description"] = app.health_description;
  j["commit"] = app.commit;
  return j.dump();
}

Result<DesiredApp> desiredAppFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    DesiredApp app;
    app.name = j.at("name").get<std::string>();
    app.hash = j.at("hash").get<std::string>();
    app.config = configFromJson(j.at("config"));
    app.replicas = j.at("replicas").get<int>();
    // Records stored before `placement` existed were all origin apps.
    std::string placement = j.value("placement", std::string(placementName(Placement::kOrigin)));
    auto parsed = placementFromName(placement);
    if (!parsed) return fail(ErrorCode::kInvalid, "stored app record has an unknown placement \"" + placement + "\"");
    app.placement = *parsed;
    app.update.max_surge = j.at("max_surge").get<int>();
    app.update.max_unavailable = j.at("max_unavailable").get<int>();
    app.depends_on = j.at("depends_on").get<std::vector<std::string>>();
    app.has_health = j.at("has_health").get<bool>();
    app.health_deadline = Duration(j.at("health_deadline_ms").get<int64_t>());
    app.health_description = j.at("health_description").get<std::string>();
    app.commit = j.at("commit").get<std::string>();
    return app;
  } catch (const json::exception& e) {
    return fail(ErrorCode::kInvalid, std::string("stored app record is not readable: ") + e.what());
  }
}

std::vector<const AppSpec*> dependencyOrder(const std::vector<AppSpec>& apps) {
  std::map<std::string, const AppSpec*> by_name;
  for (const AppSpec& a : apps) by_name[a.name] = &a;
  std::vector<const AppSpec*> out;
  std::set<std::string> done;
  std::set<std::string> visiting;
  std::function<void(const AppSpec*)> visit = [&](const AppSpec* a) {
    if (done.count(a->name) || visiting.count(a->name)) return;  // a cycle can't pass validation
    visiting.insert(a->name);
    for (const std::string& dep : a->depends_on) {
      auto it = by_name.find(dep);
      if (it != by_name.end()) visit(it->second);
    }
    visiting.erase(a->name);
    done.insert(a->name);
    out.push_back(a);
  };
  for (const auto& [name, app] : by_name) visit(app);
  return out;
}

}  // namespace shoal
