#include "tests/harness/node_containers.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

namespace shoal::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string buildDir() { return fs::path(shoalBinary()).parent_path().parent_path().string(); }

}  // namespace

std::string simulatedNodeYaml(const std::string& lease_ttl, const std::map<std::string, std::string>& labels) {
  std::string label_lines = labels.empty() ? "" : "  labels:\n";
  for (const auto& [k, v] : labels) label_lines += "    " + k + ": " + v + "\n";
  return R"(data_dir: /var/lib/shoal
spec:
  repo: /spec
  poll_interval: 1s
  write_notes: false
api:
  listen: 0.0.0.0
  port: 7443
tls:
  cluster_ca_cert: /etc/shoal/cluster-ca.crt
  cluster_ca_key: /etc/shoal/cluster-ca.key
  operator_ca_cert: /etc/shoal/operator-ca.crt
runtime: sim
cluster:
  port: 7444
  stable_for: 2s
  probe_interval: 500ms
  lease_ttl: )" + lease_ttl + "\n" + label_lines + R"(discovery:
  timeout: 1s
  sources:
    - dns: shoal
      port: 7444
)";
}

NodeContainers::NodeContainers(const std::string& node_yaml) {
  run_ = uniqueName();
  tag_ = "shoal-node-e2e:" + run_;
  dir_ = std::make_unique<TempDir>();
  pki_ = std::make_unique<Pki>(dir_->path() + "/secrets");
  spec_ = std::make_unique<SpecRepo>(dir_->path() + "/spec");
  spec_->commit({{"cluster.yaml", "name: e2e\nmin_nodes: 1\n"}}, "empty spec");
  std::string extra;
  if (!node_yaml.empty()) {
    writeFile(dir_->path() + "/node.yaml", node_yaml);
    extra = " --node-yaml " + dir_->path() + "/node.yaml";
  }
  built_ = sh("bash " + sourceDir() + "/scripts/build-image --secrets " + pki_->dir + " --build " + buildDir() +
              " --tag " + tag_ + extra);
}

NodeContainers::~NodeContainers() {
  for (const auto& c : containers_) sh("docker rm -f " + c + " >/dev/null 2>&1");
  for (const auto& n : networks_) sh("docker network rm " + n + " >/dev/null 2>&1");
  if (built()) sh("docker rmi -f " + tag_ + " >/dev/null 2>&1");
}

std::string NodeContainers::network(const std::string& suffix) {
  std::string name = run_ + "-" + suffix;
  // 10.200-249.x.0/24: the second and third octets from this process and a counter.
  for (int attempt = 0; attempt < 20; ++attempt) {
    int a = 200 + static_cast<int>((getpid() + attempt * 7) % 50);
    int b = (next_net_++ * 37 + getpid()) % 256;
    std::string prefix = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    auto r = sh("docker network create --subnet " + prefix + "0/24 " + name);
    if (r.exit_code == 0) {
      networks_.push_back(name);
      prefixes_[name] = prefix;
      return name;
    }
  }
  return "";
}

bool NodeContainers::run(const std::string& name, const std::string& network, const std::string& ip,
                         const std::string& node_yaml) {
  std::string cmd = "docker run -d --name " + name + " --hostname " + name + " --network " + network +
                    " --network-alias shoal --stop-timeout 40 -v " + spec_->bare() + ":/spec:ro ";
  if (!ip.empty()) cmd += "--ip " + ip + " ";
  if (!node_yaml.empty()) cmd += "-v " + node_yaml + ":/etc/shoal/node.yaml:ro ";
  auto r = sh(cmd + tag_);
  if (r.exit_code != 0) {
    std::cerr << "docker run " << name << ": " << r.output << "\n";
    return false;
  }
  containers_.push_back(name);
  return true;
}

int NodeContainers::stop(const std::string& name) {
  sh("docker stop -t 20 " + name);
  auto r = sh("docker inspect -f '{{.State.ExitCode}}' " + name);
  return r.exit_code == 0 ? std::stoi(trimmed(r.output)) : -1;
}

void NodeContainers::kill(const std::string& name) { sh("docker kill " + name); }
void NodeContainers::start(const std::string& name) { sh("docker start " + name); }

void NodeContainers::readdress(const std::string& name, const std::string& network, const std::string& ip) {
  sh("docker network disconnect " + network + " " + name);
  sh("docker network connect --alias shoal --ip " + ip + " " + network + " " + name);
}

void NodeContainers::connect(const std::string& name, const std::string& network) {
  sh("docker network connect --alias shoal " + network + " " + name);
}

std::string NodeContainers::ip(const std::string& name) const {
  auto r = sh("docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' " + name);
  std::string out = trimmed(r.output);
  return out.substr(0, out.find(' '));
}

std::optional<std::string> NodeContainers::get(const std::string& name, const std::string& path) const {
  std::string address = ip(name);
  if (address.empty()) return std::nullopt;
  auto r = httpsGet(address, 7443, path, pki_->dir);
  if (!r || r->status != 200) return std::nullopt;
  return r->body;
}

std::string NodeContainers::clusterId(const std::string& name) const {
  auto body = get(name, "/v1/status");
  if (!body) return "";
  auto j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j["cluster"].contains("id") || j["cluster"]["phase"] != "member") return "";
  return j["cluster"]["id"];
}

int NodeContainers::members(const std::string& name) const {
  auto body = get(name, "/v1/nodes");
  if (!body) return -1;
  auto j = json::parse(*body, nullptr, false);
  return j.is_array() ? static_cast<int>(j.size()) : -1;
}

bool NodeContainers::isHub(const std::string& name) const {
  auto body = get(name, "/v1/status");
  if (!body) return false;
  auto j = json::parse(*body, nullptr, false);
  return !j.is_discarded() && j["cluster"].value("hub", false);
}

bool NodeContainers::oneCluster(const std::vector<std::string>& names, int size) const {
  // One request per node: /v1/status carries the cluster id and its member count.
  std::string id;
  for (const auto& n : names) {
    auto body = get(n, "/v1/status");
    if (!body) return false;
    auto j = json::parse(*body, nullptr, false);
    if (j.is_discarded() || j["cluster"].value("phase", "") != "member") return false;
    std::string mine = j["cluster"].value("id", "");
    if (mine.empty() || (!id.empty() && mine != id) || j["cluster"].value("size", -1) != size) return false;
    id = mine;
  }
  return true;
}

long long NodeContainers::rssBytes(const std::string& name) const {
  auto pid = trimmed(sh("docker inspect -f '{{.State.Pid}}' " + name).output);
  auto r = sh("awk '/^VmRSS:/ {print $2}' /proc/" + pid + "/status");
  if (r.exit_code != 0 || trimmed(r.output).empty()) return -1;
  return std::stoll(trimmed(r.output)) * 1024;
}

std::string NodeContainers::logs(const std::string& name) const {
  return sh("docker logs --tail 80 " + name + " 2>&1").output;
}

}  // namespace shoal::testing
