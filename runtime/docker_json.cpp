#include "runtime/docker_json.h"

#include <charconv>
#include <chrono>

#include <nlohmann/json.hpp>

namespace shoal::docker {
namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Labels labelsOf(const json& j) {
  Labels out;
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + n, out);
  return ec == std::errc() && p == s.data() + pos + n;
}

int toInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "80/tcp" -> (80, "tcp")
std::pair<int, std::string> splitPortKey(std::string_view key) {
  size_t slash = key.find('/');
  std::string proto = slash == key.npos ? "tcp" : std::string(key.substr(slash + 1));
  return {toInt(key.substr(0, slash)), proto};
}

std::string portKey(const PortBinding& p) {
  return std::to_string(p.container_port) + "/" + (p.protocol.empty() ? "tcp" : p.protocol);
}

int64_t nanos(Duration d) { return static_cast<int64_t>(d.count()) * 1000000; }

std::unexpected<Error> badJson(std::string_view what, const std::exception& e) {
  return fail(ErrorCode::kInternal, "docker: unexpected answer to " + std::string(what) + ": " + e.what());
}

}  // namespace

ContainerState parseState(std::string_view s) {
  if (s == "created") return ContainerState::kCreated;
  if (s == "running") return ContainerState::kRunning;
  if (s == "paused") return ContainerState::kPaused;
  if (s == "restarting") return ContainerState::kRestarting;
  if (s == "removing") return ContainerState::kRemoving;
  if (s == "exited") return ContainerState::kExited;
  return ContainerState::kDead;
}

Health parseHealth(std::string_view s) {
  if (s == "starting") return Health::kStarting;
  if (s == "healthy") return Health::kHealthy;
  if (s == "unhealthy") return Health::kUnhealthy;
  return Health::kNone;
}

Health healthFromStatusText(std::string_view text) {
  if (text.find("(healthy)") != text.npos) return Health::kHealthy;
  if (text.find("(unhealthy)") != text.npos) return Health::kUnhealthy;
  if (text.find("(health: starting)") != text.npos) return Health::kStarting;
  return Health::kNone;
}

std::optional<TimePoint> parseTime(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':')
    return std::nullopt;
  if (!digits(s, 0, 4, y) || !digits(s, 5, 2, mo) || !digits(s, 8, 2, d) || !digits(s, 11, 2, h) ||
      !digits(s, 14, 2, mi) || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (y <= 1) return TimePoint{};  // Go's zero time: never happened
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    for (size_t i = start; i < start + 3; ++i) ms = ms * 10 + (i < pos ? s[i] - '0' : 0);
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || !digits(s, pos + 4, 2, om)) return std::nullopt;
    offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
  } else if (pos >= s.size() || s[pos] != 'Z') {
    return std::nullopt;
  }
  using namespace std::chrono;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  auto t = sys_days(ymd) + hours(h) + minutes(mi - offset_min) + seconds(sec) + milliseconds(ms);
  return time_point_cast<milliseconds>(t);
}

std::string labelFilters(const Labels& labels, bool container_events) {
  json f = json::object();
  json l = json::array();
  for (const auto& [k, v] : labels) l.push_back(k + "=" + v);
  if (!labels.empty()) f["label"] = l;
  if (container_events) f["type"] = json::array({"container"});
  return f.dump();
}

std::string errorMessage(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  std::string text(body);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "(empty answer)" : text;
}

Result<std::string> parseApiVersion(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("ApiVersion") || !j["ApiVersion"].is_string())
    return fail(ErrorCode::kUnavailable, "docker: GET /version gave no ApiVersion: " + std::string(body.substr(0, 200)));
  return j["ApiVersion"].get<std::string>();
}

int compareApiVersions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    size_t da = a.find('.'), db = b.find('.');
    int na = toInt(a.substr(0, da)), nb = toInt(b.substr(0, db));
    if (na != nb) return na < nb ? -1 : 1;
    a = da == a.npos ? std::string_view() : a.substr(da + 1);
    b = db == b.npos ? std::string_view() : b.substr(db + 1);
  }
  return 0;
}

Result<std::vector<ContainerInfo>> parseContainerList(std::string_view body) {
  try {
    json arr = json::parse(body);
    std::vector<ContainerInfo> out;
    for (const json& c : arr) {
      ContainerInfo info;
      info.id = str(c, "Id");
      if (c.contains("Names") && !c["Names"].empty()) {
        info.name = c["Names"][0].get<std::string>();
        if (!info.name.empty() && info.name[0] == '/') info.name.erase(0, 1);
      }
      info.image = str(c, "Image");
      info.labels = labelsOf(c.value("Labels", json::object()));
      info.state = parseState(str(c, "State"));
      info.health = healthFromStatusText(str(c, "Status"));
      info.created = fromUnixMs(c.value("Created", int64_t{0}) * 1000);
      for (const json& p : c.value("Ports", json::array())) {
        if (!p.contains("PublicPort")) continue;  // exposed but not published
        info.ports.push_back(PublishedPort{p.value("PrivatePort", 0), str(p, "Type"), str(p, "IP"),
                                           p.value("PublicPort", 0)});
      }
      out.push_back(std::move(info));
    }
    return out;
  } catch (const std::exception& e) {
    return badJson("GET /containers/json", e);
  }
}

Result<ContainerInfo> parseContainerInspect(std::string_view body) {
  try {
    json c = json::parse(body);
    ContainerInfo info;
    info.id = str(c, "Id");
    info.name = str(c, "Name");
    if (!info.name.empty() && info.name[0] == '/') info.name.erase(0, 1);
    const json& config = c.at("Config");
    info.image = str(config, "Image");
    info.labels = labelsOf(config.value("Labels", json::object()));
    const json& state = c.at("State");
    info.state = parseState(str(state, "Status"));
    if (state.contains("Health") && state["Health"].is_object()) info.health = parseHealth(str(state["Health"], "Status"));
    info.exit_code = state.value("ExitCode", 0);
    info.created = parseTime(str(c, "Created")).value_or(TimePoint{});
    info.started = parseTime(str(state, "StartedAt")).value_or(TimePoint{});
    const json net = c.value("NetworkSettings", json::object());
    const json ports = net.is_object() ? net.value("Ports", json::object()) : json();
    if (ports.is_object()) {
      for (auto& [key, bindings] : ports.items()) {
        if (!bindings.is_array()) continue;  // null: exposed but not published
        auto [port, proto] = splitPortKey(key);
        for (const json& b : bindings)
          info.ports.push_back(PublishedPort{port, proto, str(b, "HostIp"), toInt(str(b, "HostPort"))});
      }
    }
    return info;
  } catch (const std::exception& e) {
    return badJson("GET /containers/{id}/json", e);
  }
}

std::string createBody(const ContainerConfig& cfg) {
  json body = {{"Image", cfg.image}, {"Labels", json::object()}, {"Env", json::array()}};
  if (!cfg.cmd.empty()) body["Cmd"] = cfg.cmd;
  for (const auto& [k, v] : cfg.labels) body["Labels"][k] = v;
  for (const auto& [k, v] : cfg.env) body["Env"].push_back(k + "=" + v);
  json host = {{"Init", cfg.init},
               {"RestartPolicy", {{"Name", cfg.restart_policy.empty() ? "no" : cfg.restart_policy}}}};
  if (!cfg.ports.empty()) {
    body["ExposedPorts"] = json::object();
    host["PortBindings"] = json::object();
  }
  for (const PortBinding& p : cfg.ports) {
    body["ExposedPorts"][portKey(p)] = json::object();
    if (!p.host_port.empty())
      host["PortBindings"][portKey(p)].push_back({{"HostIp", p.host_ip}, {"HostPort", p.host_port}});
  }
  host["Mounts"] = json::array();
  for (const VolumeMount& v : cfg.volumes)
    host["Mounts"].push_back({{"Type", "volume"}, {"Source", v.volume}, {"Target", v.target}, {"ReadOnly", v.read_only}});
  if (cfg.memory_bytes > 0) host["Memory"] = cfg.memory_bytes;
  if (cfg.nano_cpus > 0) host["NanoCpus"] = cfg.nano_cpus;
  body["HostConfig"] = host;
  if (cfg.health) {
    json test = json::array({"CMD"});
    for (const auto& t : cfg.health->test) test.push_back(t);
    body["Healthcheck"] = {{"Test", test},
                           {"Interval", nanos(cfg.health->interval)},
                           {"Timeout", nanos(cfg.health->timeout)},
                           {"StartPeriod", nanos(cfg.health->start_period)},
                           {"Retries", cfg.health->retries}};
  }
  return body.dump();
}

std::string stringMapJson(const std::map<std::string, std::string>& map) {
  json j = json::object();
  for (const auto& [k, v] : map) j[k] = v;
  return j.dump();
}

Result<std::string> parseCreatedId(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("Id") || !j["Id"].is_string())
    return fail(ErrorCode::kInternal, "docker: create answered without an Id: " + std::string(body.substr(0, 200)));
  return j["Id"].get<std::string>();
}

std::optional<ContainerEvent> parseEvent(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object() || str(j, "Type") != "container") return std::nullopt;
  ContainerEvent ev;
  const json actor = j.value("Actor", json::object());
  ev.id = str(actor, "ID");
  if (ev.id.empty()) ev.id = str(j, "id");
  ev.action = str(j, "Action");
  if (ev.action.empty()) ev.action = str(j, "status");
  ev.labels = labelsOf(actor.value("Attributes", json::object()));
  return ev;
}

BuildLine parseBuildLine(std::string_view line) {
  BuildLine out;
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) {
    out.stream = std::string(line);  // not JSON: show it as output rather than lose it
    return out;
  }
  out.stream = str(j, "stream");
  out.error = str(j, "error");
  if (out.error.empty() && j.contains("errorDetail") && j["errorDetail"].is_object())
    out.error = str(j["errorDetail"], "message");
  if (j.contains("aux") && j["aux"].is_object()) out.image_id = str(j["aux"], "ID");
  return out;
}

}  // namespace shoal::docker
