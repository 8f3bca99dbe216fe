#include <algorithm>
#include <string>

#include "common/duration.h"
#include "schemas/spec_builder.h"

namespace shoal {

const char* placementName(Placement p) {
  switch (p) {
    case Placement::kSpread: return "spread";
    case Placement::kOrigin: return "origin";
    case Placement::kEveryNode: return "every-node";
  }
  return "?";
}

std::optional<Placement> placementFromName(std::string_view name) {
  if (name == "spread") return Placement::kSpread;
  if (name == "origin") return Placement::kOrigin;
  if (name == "every-node") return Placement::kEveryNode;
  return std::nullopt;
}

namespace {

void buildEnv(const Value& env, AppSpec& app) {
  for (const auto& [key, value] : env.entries()) {
    if (key.empty() || key.find('=') != std::string::npos) {
      env.ctx().error(value.loc(), value.path(), "a variable name can't be empty or contain '='");
      continue;
    }
    app.env[key] = value.text();  // numbers and booleans as written; an empty value is ""
  }
}

void buildLabels(const Value& labels, AppSpec& app) {
  for (const auto& [key, value] : labels.entries()) {
    if (key.starts_with("shoal.")) {
      labels.ctx().error(value.loc(), value.path(), "labels starting with \"shoal.\" are reserved for shoal");
      continue;
    }
    app.labels[key] = value.text();
  }
}

void buildResources(const Value& res, AppSpec& app) {
  if (auto v = res.field("memory")) {
    app.resources.memory_bytes = v->kind() == YamlKind::kInt ? v->integer64() : parseSize(v->text()).value_or(0);
  }
  if (auto v = res.field("cpus")) app.resources.cpus = v->number();
}

// Index of the first port published on one fixed host port, if any.
std::optional<size_t> firstFixedPort(const AppSpec& app) {
  for (size_t i = 0; i < app.ports.size(); ++i) {
    if (app.ports[i].host_from != 0 && app.ports[i].host_from == app.ports[i].host_to) return i;
  }
  return std::nullopt;
}

// Only one container at a time can hold a fixed host port, so such an app is updated by stopping the
// old container first (max_surge 0), and can't run more than one replica.
void applyUpdateRules(const Value& root, AppDraft& d) {
  AppSpec& a = d.spec;
  std::optional<size_t> fixed = firstFixedPort(a);
  if (fixed) a.update = UpdateSpec{0, 1};
  std::optional<Value> update = root.field("update");
  std::optional<Value> surge = update ? update->field("max_surge") : std::nullopt;
  std::optional<Value> unavailable = update ? update->field("max_unavailable") : std::nullopt;
  if (surge && update->has("max_surge")) a.update.max_surge = surge->integer();
  if (unavailable && update->has("max_unavailable")) a.update.max_unavailable = unavailable->integer();

  for (size_t i = 0; i < a.ports.size(); ++i) {
    const PortSpec& p = a.ports[i];
    if (p.host_from == 0) continue;
    if (p.host_from == p.host_to && a.replicas > 1) {
      int to = std::min(65535, p.host_from + a.replicas - 1);
      root.ctx().error(d.port_hosts[i].loc, d.port_hosts[i].path,
                       "host port " + std::to_string(p.host_from) + " can't be published by " +
                           std::to_string(a.replicas) + " replicas; give a range like " +
                           std::to_string(p.host_from) + "-" + std::to_string(to));
    }
    int width = p.host_to - p.host_from + 1;
    int need = a.replicas + a.update.max_surge;
    if (p.host_from != p.host_to && width < need) {
      root.ctx().error(d.port_hosts[i].loc, d.port_hosts[i].path,
                       "host range " + std::to_string(p.host_from) + "-" + std::to_string(p.host_to) + " has " +
                           std::to_string(width) + " ports but up to " + std::to_string(need) +
                           " containers run at once (replicas " + std::to_string(a.replicas) + " + max_surge " +
                           std::to_string(a.update.max_surge) + "); widen it to " + std::to_string(p.host_from) +
                           "-" + std::to_string(std::min(65535, p.host_from + need - 1)));
    }
  }
  if (fixed && surge && update->has("max_surge") && a.update.max_surge > 0) {
    root.ctx().error(surge->loc(), surge->path(),
                     "must be 0 because " + d.port_hosts[*fixed].path + " publishes the fixed host port " +
                         std::to_string(a.ports[*fixed].host_from) +
                         ": a new container can't bind it while the old one holds it");
  }
  if (update && a.update.max_surge == 0 && a.update.max_unavailable == 0) {
    root.ctx().error(update->loc(), update->path(),
                     "max_surge and max_unavailable can't both be 0: an update could never replace a container");
  }
}

}  // namespace

std::vector<std::string> commandOf(const Value& command) {
  if (!command.isList()) return {"sh", "-c", command.text()};
  std::vector<std::string> out;
  for (const auto& item : command.items()) out.push_back(item.text());
  return out;
}

AppDraft buildApp(const Value& root, const std::string& name, const std::string& file) {
  AppDraft d;
  AppSpec& a = d.spec;
  a.name = name;
  a.file = file;
  if (auto v = root.field("image")) a.image = v->text();
  if (auto v = root.field("build")) buildBuildSection(*v, d);
  if (!root.has("image") && !root.has("build")) root.ctx().error(root.loc(), "image", "required (or build)");
  if (root.has("image") && root.has("build")) {
    root.ctx().error(root.keyLoc("build"), "build", "give either image or build, not both");
  }
  if (auto v = root.field("replicas")) a.replicas = v->integer();
  if (auto v = root.field("placement")) a.placement = placementFromName(v->text()).value_or(Placement::kSpread);
  if (auto v = root.field("role")) {
    a.role = v->text();
    d.role = Where{v->loc(), v->path()};
  }
  // A role app runs on every holder of the role: a placement would say where else, and contradict it.
  if (root.has("role") && root.has("placement")) {
    root.ctx().error(root.keyLoc("placement"), "placement",
                     "role and placement can't be used together: an app with a role runs on every node holding it");
  }
  if (auto v = root.field("constraints")) {
    for (const auto& [key, value] : v->entries()) a.constraints[key] = value.text();
  }
  if (auto v = root.field("command")) a.command = commandOf(*v);
  if (auto v = root.field("env")) buildEnv(*v, a);
  if (auto v = root.field("ports")) buildPorts(*v, d);
  if (auto v = root.field("volumes")) a.volumes = buildVolumes(*v);
  if (auto v = root.field("health")) a.health = buildHealth(*v);
  if (auto v = root.field("resources")) buildResources(*v, a);
  if (auto v = root.field("restart")) a.restart = v->text();
  if (auto v = root.field("depends_on")) {
    for (const auto& item : v->items()) {
      a.depends_on.push_back(item.text());
      d.depends.push_back(Where{item.loc(), item.path()});
    }
  }
  if (auto v = root.field("labels")) buildLabels(*v, a);
  applyUpdateRules(root, d);
  return d;
}

}  // namespace shoal
