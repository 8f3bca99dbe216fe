// The sections of an app file that have a short form or a conversion: build, ports, volumes, health.
#include <algorithm>
#include <string>

#include "schemas/short_forms.h"
#include "schemas/spec_builder.h"

namespace shoal {

void buildBuildSection(const Value& build, AppDraft& d) {
  BuildSpec b;
  if (!build.isMap()) {  // `build: web` is the context alone
    b.context = build.text();
    d.build_context = d.dockerfile = Where{build.loc(), build.path()};
    d.spec.build = b;
    return;
  }
  if (auto v = build.field("context")) {
    b.context = v->text();
    d.build_context = d.dockerfile = Where{v->loc(), v->path()};
  }
  if (auto v = build.field("dockerfile")) {
    b.dockerfile = v->text();
    if (build.has("dockerfile")) d.dockerfile = Where{v->loc(), v->path()};
  }
  if (auto v = build.field("args")) {
    for (const auto& [key, value] : v->entries()) b.args[key] = value.text();
  }
  d.spec.build = b;
}

namespace {

void buildPortMap(const Value& item, AppDraft& d) {
  PortSpec p;
  Where where{item.loc(), item.path()};
  if (auto v = item.field("container")) p.container = v->integer();
  if (auto v = item.field("host")) {
    if (v->kind() == YamlKind::kInt) {
      p.host_from = p.host_to = v->integer();
    } else if (auto range = parsePortRange(v->text())) {
      p.host_from = range->first;
      p.host_to = range->second;
    }
    where = Where{v->loc(), v->path()};
  }
  if (auto v = item.field("protocol")) p.protocol = v->text();
  if (auto v = item.field("host_ip")) p.host_ip = v->text();
  d.spec.ports.push_back(p);
  d.port_hosts.push_back(where);
}

}  // namespace

void buildPorts(const Value& ports, AppDraft& d) {
  for (const auto& item : ports.items()) {
    if (item.isMap()) {
      buildPortMap(item, d);
    } else if (auto p = parsePortMapping(item.text())) {
      d.spec.ports.push_back(*p);
      d.port_hosts.push_back(Where{item.loc(), item.path()});
    }
  }
}

std::vector<VolumeSpec> buildVolumes(const Value& volumes) {
  std::vector<VolumeSpec> out;
  for (const auto& item : volumes.items()) {
    if (!item.isMap()) {
      if (auto v = parseVolumeMapping(item.text())) out.push_back(*v);
      continue;
    }
    VolumeSpec v;
    if (auto f = item.field("name")) v.name = f->text();
    if (auto f = item.field("target")) v.target = f->text();
    if (auto f = item.field("read_only")) v.read_only = f->boolean();
    out.push_back(v);
  }
  return out;
}

namespace {

// `http:` becomes a probe by busybox `wget`, which every image built on busybox has. No `-T`:
// Debian's busybox-static 1.35 wget dies of SIGSEGV with it (exit 139, seen in a container);
// Docker's own `Timeout` bounds the probe instead.
void httpProbe(const Value& http, HealthSpec& h) {
  int port = 0;
  std::string path = "/";
  if (auto v = http.field("port")) port = v->integer();
  if (auto v = http.field("path")) path = v->text();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  h.cmd = {"wget", "-q", "-O", "/dev/null", url};
  h.description = "GET " + url;
}

}  // namespace

std::optional<HealthSpec> buildHealth(const Value& health) {
  HealthSpec h;
  if (!health.has("cmd") && !health.has("http")) {
    health.ctx().error(health.loc(), joinPath(health.path(), "cmd"), "required (or http)");
  }
  if (health.has("cmd") && health.has("http")) {
    health.ctx().error(health.keyLoc("http"), joinPath(health.path(), "http"), "give either cmd or http, not both");
  }
  if (auto v = health.field("interval")) h.interval = v->duration();
  if (auto v = health.field("timeout")) h.timeout = v->duration();
  if (auto v = health.field("retries")) h.retries = v->integer();
  if (auto v = health.field("start_period")) h.start_period = v->duration();
  if (auto v = health.field("deadline")) h.deadline = v->duration();
  std::optional<Value> cmd = health.field("cmd");
  std::optional<Value> http = health.field("http");
  if (cmd) {
    h.cmd = commandOf(*cmd);
    if (cmd->isList()) {
      for (const auto& part : h.cmd) h.description += (h.description.empty() ? "" : " ") + part;
    } else {
      h.description = cmd->text();
    }
  } else if (http) {
    httpProbe(*http, h);
  }
  return h;
}

}  // namespace shoal
