// Rules no single file can break alone: names, host ports, dependencies, build sources.
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "schemas/spec_builder.h"

namespace shoal {
namespace {

void checkDuplicateNames(std::vector<AppDraft>& apps, const SpecFiles& files, Diagnostics& out) {
  std::map<std::string, std::string> first_file;  // files are visited in path order
  for (const auto& [path, _] : files.files) {
    auto name = appNameOf(path);
    if (!name) continue;
    auto [it, inserted] = first_file.emplace(*name, path);
    if (!inserted) out.push_back(Diagnostic{path, 0, 0, "", "app \"" + *name + "\" is also defined by " + it->second});
  }
  std::erase_if(apps, [&](const AppDraft& d) { return first_file[d.spec.name] != d.spec.file; });
}

bool addressesOverlap(const std::string& a, const std::string& b) {
  auto any = [](const std::string& ip) { return ip == "0.0.0.0" || ip == "::"; };
  return a == b || any(a) || any(b);
}

std::string portsText(const PortSpec& p) {
  if (p.host_from == p.host_to) return std::to_string(p.host_from);
  return std::to_string(p.host_from) + "-" + std::to_string(p.host_to);
}

struct Published {
  const AppDraft* app;
  size_t index;
};

void checkHostPorts(const std::vector<AppDraft>& apps, Diagnostics& out) {
  std::vector<Published> seen;
  for (const auto& app : apps) {
    for (size_t i = 0; i < app.spec.ports.size(); ++i) {
      const PortSpec& p = app.spec.ports[i];
      if (p.host_from == 0) continue;
      for (const auto& other : seen) {
        const PortSpec& q = other.app->spec.ports[other.index];
        if (q.protocol != p.protocol || q.host_to < p.host_from || p.host_to < q.host_from) continue;
        if (!addressesOverlap(p.host_ip, q.host_ip)) continue;
        std::string by = other.app == &app ? other.app->port_hosts[other.index].path : other.app->spec.file;
        bool single = p.host_from == p.host_to && q.host_from == q.host_to;
        std::string msg = single ? "host port " + portsText(p) + "/" + p.protocol + " is also published by " + by
                                 : "host ports " + portsText(p) + "/" + p.protocol + " overlap " + portsText(q) +
                                       " published by " + by;
        out.push_back(diagAt(app.spec.file, app.port_hosts[i].loc, app.port_hosts[i].path, msg));
        break;
      }
      seen.push_back(Published{&app, i});
    }
  }
}

void checkDependsOn(const std::vector<AppDraft>& apps, const SpecFiles& files, Diagnostics& out) {
  std::set<std::string> names;
  for (const auto& [path, _] : files.files) {
    if (auto n = appNameOf(path)) names.insert(*n);
  }
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  for (const auto& app : apps) {
    for (size_t i = 0; i < app.spec.depends_on.size(); ++i) {
      if (names.contains(app.spec.depends_on[i])) continue;
      out.push_back(diagAt(app.spec.file, app.depends[i].loc, app.depends[i].path,
                           "unknown app \"" + app.spec.depends_on[i] + "\" (apps: " + known + ")"));
    }
  }
}

// Each cycle once, reported at the edge leaving its alphabetically first app.
void checkCycles(const std::vector<AppDraft>& apps, Diagnostics& out) {
  std::map<std::string, const AppDraft*> by_name;
  for (const auto& app : apps) by_name[app.spec.name] = &app;
  std::map<std::string, int> state;  // 0 unvisited, 1 on the stack, 2 done
  std::vector<std::string> stack;
  std::set<std::vector<std::string>> reported;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    state[name] = 1;
    stack.push_back(name);
    for (const auto& dep : by_name[name]->spec.depends_on) {
      if (!by_name.contains(dep)) continue;
      if (state[dep] == 0) {
        visit(dep);
      } else if (state[dep] == 1) {
        std::vector<std::string> cycle(std::find(stack.begin(), stack.end(), dep), stack.end());
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
        if (!reported.insert(cycle).second) continue;
        std::string text;
        for (const auto& n : cycle) text += n + " -> ";
        text += cycle.front();
        const AppDraft& first = *by_name[cycle.front()];
        const std::string& next = cycle.size() > 1 ? cycle[1] : cycle[0];
        size_t i = std::find(first.spec.depends_on.begin(), first.spec.depends_on.end(), next) - first.spec.depends_on.begin();
        out.push_back(diagAt(first.spec.file, first.depends[i].loc, first.depends[i].path, "dependency cycle: " + text));
      }
    }
    stack.pop_back();
    state[name] = 2;
  };
  for (const auto& [name, _] : by_name) {
    if (state[name] == 0) visit(name);
  }
}

// "./web/" -> "web", "." -> ""; nullopt for paths that leave the repo.
std::optional<std::string> repoDir(std::string dir) {
  while (dir.starts_with("./")) dir.erase(0, 2);
  while (dir.size() > 1 && dir.ends_with("/")) dir.pop_back();
  if (dir == ".") dir.clear();
  if (dir.starts_with("/") || dir == ".." || dir.starts_with("../") || dir.find("/../") != std::string::npos ||
      dir.ends_with("/..")) {
    return std::nullopt;
  }
  return dir;
}

void checkBuildSources(std::vector<AppDraft>& apps, const SpecFiles& files, Diagnostics& out) {
  for (auto& app : apps) {
    if (!app.spec.build || app.spec.build->context.empty()) continue;
    BuildSpec& b = *app.spec.build;
    const std::string& file = app.spec.file;
    auto dir = repoDir(b.context);
    if (!dir) {
      out.push_back(diagAt(file, app.build_context.loc, app.build_context.path,
                           "must be a directory inside the repo, got \"" + b.context + "\""));
      continue;
    }
    b.context = dir->empty() ? "." : *dir;
    if (files.has_dir && !dir->empty() && !files.has_dir(*dir)) {
      out.push_back(diagAt(file, app.build_context.loc, app.build_context.path,
                           "directory \"" + *dir + "\" is not in the repo at this commit"));
      continue;
    }
    auto dockerfile = repoDir((dir->empty() ? "" : *dir + "/") + b.dockerfile);
    if (files.has_file && (!dockerfile || !files.has_file(*dockerfile))) {
      std::string shown = dockerfile.value_or(b.dockerfile);
      out.push_back(diagAt(file, app.dockerfile.loc, app.dockerfile.path,
                           "file \"" + shown + "\" is not in the repo at this commit"));
    }
  }
}

// `hub` is always a role: an app bound to it runs beside every etcd voter.
void checkRoles(const std::vector<AppDraft>& apps, const ClusterSpec& cluster, Diagnostics& out) {
  std::string known;
  for (const auto& r : cluster.roles) known += (known.empty() ? "" : ", ") + r.name;
  for (const auto& app : apps) {
    const std::string& role = app.spec.role;
    if (role.empty()) continue;
    bool declared = std::any_of(cluster.roles.begin(), cluster.roles.end(), [&](const RoleSpec& r) { return r.name == role; });
    if (declared) continue;
    out.push_back(diagAt(app.spec.file, app.role.loc, app.role.path,
                         "unknown role \"" + role + "\" (cluster.yaml roles: " + known + ")"));
  }
}

}  // namespace

void checkCrossFile(std::vector<AppDraft>& apps, const SpecFiles& files, const ClusterSpec* cluster,
                    Diagnostics& out) {
  checkDuplicateNames(apps, files, out);
  checkHostPorts(apps, out);
  checkDependsOn(apps, files, out);
  checkCycles(apps, out);
  checkBuildSources(apps, files, out);
  if (cluster != nullptr) checkRoles(apps, *cluster, out);
}

}  // namespace shoal
