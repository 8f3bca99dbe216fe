// node.yaml: required keys, defaults, paths resolved against the file's directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "schemas/node_config.h"

namespace shoal {
namespace {

using Errors = std::vector<std::string>;

const char kMinimal[] =
    "data_dir: data\n"
    "spec:\n"
    "  repo: ../spec\n"
    "tls:\n"
    "  cluster_ca_cert: ca/cluster.crt\n"
    "  cluster_ca_key: /secrets/cluster.key\n"
    "  operator_ca_cert: ca/operator.crt\n";

Errors errorsOf(const std::string& text) {
  auto r = parseNodeConfig(text, "node.yaml", "/etc/shoal");
  Errors out;
  if (!r) for (const auto& d : r.error()) out.push_back(d.str());
  return out;
}

TEST(NodeConfigTest, MinimalWithDefaultsAndResolvedPaths) {
  auto r = parseNodeConfig(kMinimal, "node.yaml", "/etc/shoal");
  ASSERT_TRUE(r) << formatDiagnostics(r.error());
  const NodeConfig& c = *r;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(c.name, host);
  EXPECT_EQ(c.data_dir, "/etc/shoal/data");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.spec.repo, "/etc/spec");
  EXPECT_EQ(c.spec.branch, "main");
  EXPECT_EQ(c.spec.poll_interval, Duration(1000));
  EXPECT_TRUE(c.spec.write_notes);
  EXPECT_EQ(c.api.listen, "127.0.0.1");
  EXPECT_EQ(c.api.port, 7443);
  EXPECT_EQ(c.tls.cluster_ca_cert, "/etc/shoal/ca/cluster.crt");
  EXPECT_EQ(c.tls.cluster_ca_key, "/secrets/cluster.key");
  EXPECT_EQ(c.tls.operator_ca_cert, "/etc/shoal/ca/operator.crt");
  EXPECT_EQ(c.tls.cert_lifetime, Duration(90LL * 24 * 3600 * 1000));
  EXPECT_EQ(c.runtime, "docker");
  EXPECT_EQ(c.docker_socket, "/var/run/docker.sock");
  EXPECT_EQ(c.resync_interval, Duration(5000));
  EXPECT_EQ(c.stop_timeout, Duration(10000));
}

TEST(NodeConfigTest, EveryKeySet) {
  auto r = parseNodeConfig(
      "name: n1\ndata_dir: /var/lib/shoal\nlog_level: debug\n"
      "spec: {repo: \"https://git.example/spec.git\", branch: prod, poll_interval: 2s, token_file: token,"
      " ca_file: ca.pem, write_notes: false}\n"
      "api: {listen: 0.0.0.0, port: 0}\n"
      "tls: {cluster_ca_cert: a, cluster_ca_key: b, operator_ca_cert: c, cert_lifetime: 30d}\n"
      "runtime: sim\ndocker_socket: /run/docker.sock\nresync_interval: 10s\nstop_timeout: 3s\n",
      "node.yaml", "/etc/shoal");
  ASSERT_TRUE(r) << formatDiagnostics(r.error());
  EXPECT_EQ(r->name, "n1");
  EXPECT_EQ(r->log_level, "debug");
  EXPECT_EQ(r->spec.repo, "https://git.example/spec.git");  // a URL is not a path
  EXPECT_EQ(r->spec.token_file, "/etc/shoal/token");
  EXPECT_EQ(r->spec.ca_file, "/etc/shoal/ca.pem");
  EXPECT_FALSE(r->spec.write_notes);
  EXPECT_EQ(r->spec.poll_interval, Duration(2000));
  EXPECT_EQ(r->api.listen, "0.0.0.0");
  EXPECT_EQ(r->api.port, 0);
  EXPECT_EQ(r->tls.cert_lifetime, Duration(30LL * 86400000));
  EXPECT_EQ(r->runtime, "sim");
  EXPECT_EQ(r->docker_socket, "/run/docker.sock");
  EXPECT_EQ(r->resync_interval, Duration(10000));
  EXPECT_EQ(r->stop_timeout, Duration(3000));
}

TEST(NodeConfigTest, ScpLikeAndFileUrlsAreKept) {
  std::string text = kMinimal;
  text.replace(text.find("../spec"), 7, "git@github.com:me/spec.git");
  EXPECT_EQ(parseNodeConfig(text, "node.yaml", "/etc/shoal")->spec.repo, "git@github.com:me/spec.git");
  text.replace(text.find("git@github.com:me/spec.git"), 26, "file:///srv/spec");
  EXPECT_EQ(parseNodeConfig(text, "node.yaml", "/etc/shoal")->spec.repo, "file:///srv/spec");
}

TEST(NodeConfigTest, MissingDataDir) {
  std::string text = kMinimal;
  text.erase(0, text.find('\n') + 1);
  EXPECT_EQ(errorsOf(text), (Errors{"node.yaml:1:1: data_dir: required"}));
}

TEST(NodeConfigTest, UnknownKey) {
  EXPECT_EQ(errorsOf(std::string(kMinimal) + "api:\n  adress: 0.0.0.0\n"),
            (Errors{"node.yaml:9:3: api.adress: unknown key; expected one of: listen, port"}));
}

TEST(NodeConfigTest, MissingSectionsAndBadValues) {
  EXPECT_EQ(errorsOf("data_dir: d\nlog_level: verbose\nspec: {branch: x}\nruntime: podman\nstop_timeout: 10\n"),
            (Errors{"node.yaml:1:1: tls: required", "node.yaml:2:12: log_level: expected one of trace, debug, info, "
                                                    "warn, error, got \"verbose\"",
                    "node.yaml:3:7: spec.repo: required",
                    "node.yaml:4:10: runtime: expected one of docker, sim, got \"podman\"",
                    "node.yaml:5:15: stop_timeout: expected a duration like 500ms, 2s, 5m, got 10"}));
}

TEST(NodeConfigTest, MissingTlsFiles) {
  EXPECT_EQ(errorsOf("data_dir: d\nspec: {repo: r}\ntls:\n  cert_lifetime: 1d\n"),
            (Errors{"node.yaml:4:3: tls.cluster_ca_cert: required", "node.yaml:4:3: tls.cluster_ca_key: required",
                    "node.yaml:4:3: tls.operator_ca_cert: required"}));
}

TEST(NodeConfigTest, SyntaxError) {
  EXPECT_EQ(errorsOf("data_dir: d\nspec:\n  repo: x\n bad: y\n"),
            (Errors{"node.yaml:4:2: YAML syntax error: end of map not found"}));
}

// yaml-cpp itself would take the rest of the file as the string's text.
TEST(NodeConfigTest, QuoteLeftOpenAtEndOfFile) {
  EXPECT_EQ(errorsOf("data_dir: d\nspec:\n  repo: \"x\n"),
            (Errors{"node.yaml:3:9: YAML syntax error: quoted text is never closed"}));
}

TEST(NodeConfigTest, UnreadableFile) {
  auto r = loadNodeConfig("/nonexistent/node.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().at(0).str(), "/nonexistent/node.yaml: cannot read: No such file or directory");
}

TEST(NodeConfigTest, LoadsFromFileResolvingAgainstItsDirectory) {
  auto dir = std::filesystem::temp_directory_path() / ("shoal-node-config-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "conf");
  std::ofstream(dir / "conf" / "node.yaml") << kMinimal;
  auto r = loadNodeConfig((dir / "conf" / "node.yaml").string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r) << formatDiagnostics(r.error());
  EXPECT_EQ(r->data_dir, (dir / "conf" / "data").string());
  EXPECT_EQ(r->spec.repo, (dir / "spec").string());
}

}  // namespace
}  // namespace shoal
