// node.yaml's `discovery` and `cluster` sections: defaults, every source kind, resolved paths, and
// the exact message of every rule.
#include <gtest/gtest.h>

#include "schemas/node_config.h"

namespace shoal {
namespace {

using Errors = std::vector<std::string>;
using Source = NodeConfig::Discovery::Source;

// Three lines, so the sections under test start at line 4.
const char kBase[] =
    "data_dir: d\n"
    "spec: {repo: r}\n"
    "tls: {cluster_ca_cert: a, cluster_ca_key: b, operator_ca_cert: c}\n";

NodeConfig load(const std::string& sections) {
  auto r = parseNodeConfig(kBase + sections, "node.yaml", "/etc/shoal");
  if (!r) throw std::runtime_error(formatDiagnostics(r.error()));
  return *r;
}

Errors errorsOf(const std::string& sections) {
  auto r = parseNodeConfig(kBase + sections, "node.yaml", "/etc/shoal");
  Errors out;
  if (!r) for (const auto& d : r.error()) out.push_back(d.str());
  return out;
}

// The section a test is about, in a cluster node.
std::string withSources(const std::string& sources) { return "cluster: {}\ndiscovery:\n  sources:\n" + sources; }

TEST(NodeClusterTest, WithoutEitherSectionTheNodeIsStandalone) {
  NodeConfig c = load("");
  EXPECT_FALSE(c.cluster.enabled);
  EXPECT_TRUE(c.discovery.sources.empty());
  EXPECT_EQ(c.discovery.timeout, Duration(2000));
  EXPECT_EQ(c.cluster.port, 7444);
  EXPECT_EQ(c.cluster.etcd.client_port, 2379);
}

// The schema's defaults and `NodeConfig`'s must agree: a node reads one or the other.
TEST(NodeClusterTest, EmptyClusterSectionTakesTheSchemaDefaultsWhichMatchTheStruct) {
  NodeConfig c = load("cluster: {}\n");
  const NodeConfig::Cluster defaults;
  EXPECT_TRUE(c.cluster.enabled);
  EXPECT_FALSE(defaults.enabled);
  EXPECT_EQ(c.cluster.listen, "0.0.0.0");
  EXPECT_EQ(c.cluster.port, 7444);
  EXPECT_EQ(c.cluster.advertise, "");
  EXPECT_EQ(c.cluster.contacts, 1);
  EXPECT_EQ(c.cluster.stable_for, Duration(3000));
  EXPECT_EQ(c.cluster.probe_interval, Duration(1000));
  EXPECT_EQ(c.cluster.lease_ttl, Duration(10000));
  EXPECT_TRUE(c.cluster.labels.empty());
  EXPECT_EQ(c.cluster.etcd.binary, "etcd");  // looked up in PATH, not resolved
  EXPECT_EQ(c.cluster.etcd.client_port, 2379);
  EXPECT_EQ(c.cluster.etcd.peer_port, 2380);
  EXPECT_EQ(c.cluster.listen, defaults.listen);
  EXPECT_EQ(c.cluster.port, defaults.port);
  EXPECT_EQ(c.cluster.advertise, defaults.advertise);
  EXPECT_EQ(c.cluster.contacts, defaults.contacts);
  EXPECT_EQ(c.cluster.stable_for, defaults.stable_for);
  EXPECT_EQ(c.cluster.probe_interval, defaults.probe_interval);
  EXPECT_EQ(c.cluster.lease_ttl, defaults.lease_ttl);
  EXPECT_EQ(c.cluster.etcd.binary, defaults.etcd.binary);
  EXPECT_EQ(c.cluster.etcd.client_port, defaults.etcd.client_port);
  EXPECT_EQ(c.cluster.etcd.peer_port, defaults.etcd.peer_port);
}

TEST(NodeClusterTest, SourceDefaultsMatchTheStruct) {
  NodeConfig c = load(withSources("    - dns: shoal.test\n    - git: /srv/peers.git\n"));
  ASSERT_EQ(c.discovery.sources.size(), 2u);
  const Source defaults;
  const Source& dns = c.discovery.sources[0];
  EXPECT_EQ(dns.kind, "dns");
  EXPECT_EQ(dns.name, "shoal.test");
  EXPECT_EQ(dns.port, 7444);
  EXPECT_EQ(dns.port, defaults.port);
  EXPECT_EQ(dns.server, "");
  const Source& git = c.discovery.sources[1];
  EXPECT_EQ(git.kind, "git");
  EXPECT_EQ(git.repo, "/srv/peers.git");
  EXPECT_EQ(git.path, "peers.txt");
  EXPECT_EQ(git.branch, "main");
  EXPECT_EQ(git.path, defaults.path);
  EXPECT_EQ(git.branch, defaults.branch);
  EXPECT_EQ(git.token_file, "");
  EXPECT_FALSE(git.publish);
  EXPECT_EQ(c.discovery.timeout, Duration(2000));
}

const char kFullExample[] =
    "discovery:\n"
    "  timeout: 3s\n"
    "  sources:\n"
    "    - static: [\"10.0.0.2\", \"10.0.0.3:7444\", \"[fd00::1]:7444\", \"n4.example.com\", \"fd00::5\"]\n"
    "    - url: http://127.0.0.1:8080/peers.txt\n"
    "      ca_file: ca.pem\n"
    "    - dns: _shoal._tcp.example.com\n"
    "      port: 7500\n"
    "      server: 127.0.0.1:5353\n"
    "    - git: peers\n"
    "      path: nodes/peers.txt\n"
    "      branch: prod\n"
    "      token_file: secrets/tok\n"
    "      publish: true\n"
    "cluster:\n"
    "  listen: 10.0.0.1\n"
    "  port: 7445\n"
    "  advertise: 10.0.0.1\n"
    "  contacts: 3\n"
    "  stable_for: 5s\n"
    "  probe_interval: 500ms\n"
    "  lease_ttl: 2s\n"
    "  labels: {zone: a, example.com/rack: r-1, 1: one}\n"
    "  etcd:\n"
    "    binary: bin/etcd\n"
    "    client_port: 12379\n"
    "    peer_port: 12380\n";

TEST(NodeClusterTest, FullExample) {
  NodeConfig c = load(kFullExample);
  EXPECT_EQ(c.discovery.timeout, Duration(3000));
  ASSERT_EQ(c.discovery.sources.size(), 4u);
  const auto& s = c.discovery.sources;
  EXPECT_EQ(s[0].kind, "static");
  EXPECT_EQ(s[0].addresses,
            (std::vector<std::string>{"10.0.0.2", "10.0.0.3:7444", "[fd00::1]:7444", "n4.example.com", "fd00::5"}));
  EXPECT_EQ(s[1].kind, "url");
  EXPECT_EQ(s[1].url, "http://127.0.0.1:8080/peers.txt");
  EXPECT_EQ(s[1].ca_file, "/etc/shoal/ca.pem");
  EXPECT_EQ(s[2].kind, "dns");
  EXPECT_EQ(s[2].name, "_shoal._tcp.example.com");
  EXPECT_EQ(s[2].port, 7500);
  EXPECT_EQ(s[2].server, "127.0.0.1:5353");
  EXPECT_EQ(s[3].kind, "git");
  EXPECT_EQ(s[3].repo, "/etc/shoal/peers");
  EXPECT_EQ(s[3].path, "nodes/peers.txt");  // inside the repo: not resolved
  EXPECT_EQ(s[3].branch, "prod");
  EXPECT_EQ(s[3].token_file, "/etc/shoal/secrets/tok");
  EXPECT_TRUE(s[3].publish);
  const NodeConfig::Cluster& k = c.cluster;
  EXPECT_TRUE(k.enabled);
  EXPECT_EQ(k.listen, "10.0.0.1");
  EXPECT_EQ(k.port, 7445);
  EXPECT_EQ(k.advertise, "10.0.0.1");
  EXPECT_EQ(k.contacts, 3);
  EXPECT_EQ(k.stable_for, Duration(5000));
  EXPECT_EQ(k.probe_interval, Duration(500));
  EXPECT_EQ(k.lease_ttl, Duration(2000));
  EXPECT_EQ(k.labels, (std::map<std::string, std::string>{{"zone", "a"}, {"example.com/rack", "r-1"}, {"1", "one"}}));
  EXPECT_EQ(k.etcd.binary, "/etc/shoal/bin/etcd");
  EXPECT_EQ(k.etcd.client_port, 12379);
  EXPECT_EQ(k.etcd.peer_port, 12380);
}

TEST(NodeClusterTest, GitRepoUrlsAreKeptAndPathsResolved) {
  NodeConfig c = load(withSources("    - git: file:///srv/peers.git\n    - git: https://git.example/p.git\n"
                                  "    - git: ../peers.git\n    - {git: /abs/p.git, token_file: /run/tok}\n"));
  ASSERT_EQ(c.discovery.sources.size(), 4u);
  EXPECT_EQ(c.discovery.sources[0].repo, "file:///srv/peers.git");
  EXPECT_EQ(c.discovery.sources[1].repo, "https://git.example/p.git");
  EXPECT_EQ(c.discovery.sources[2].repo, "/etc/peers.git");
  EXPECT_EQ(c.discovery.sources[3].repo, "/abs/p.git");
  EXPECT_EQ(c.discovery.sources[3].token_file, "/run/tok");
}

TEST(NodeClusterTest, EtcdBinaryIsResolvedOnlyWhenItHasASlash) {
  EXPECT_EQ(load("cluster: {etcd: {binary: etcd-3.5}}\n").cluster.etcd.binary, "etcd-3.5");
  EXPECT_EQ(load("cluster: {etcd: {binary: ./etcd}}\n").cluster.etcd.binary, "/etc/shoal/etcd");
  EXPECT_EQ(load("cluster: {etcd: {binary: /usr/bin/etcd}}\n").cluster.etcd.binary, "/usr/bin/etcd");
}

TEST(NodeClusterTest, AdvertiseIsEmptyOrAnAddress) {
  EXPECT_EQ(load("cluster: {advertise: \"\"}\n").cluster.advertise, "");
  EXPECT_EQ(load("cluster: {advertise: \"fd00::1\"}\n").cluster.advertise, "fd00::1");
  EXPECT_EQ(errorsOf("cluster: {advertise: n1.example}\n"),
            (Errors{"node.yaml:4:22: cluster.advertise: must be an IPv4 or IPv6 address (or \"\" to detect it), got "
                    "\"n1.example\""}));
  EXPECT_EQ(errorsOf("cluster: {advertise: \"10.0.0.1:7444\"}\n"),
            (Errors{"node.yaml:4:22: cluster.advertise: must be an IPv4 or IPv6 address (or \"\" to detect it), got "
                    "\"10.0.0.1:7444\""}));
}

TEST(NodeClusterTest, DiscoveryNeedsACluster) {
  EXPECT_EQ(errorsOf("discovery:\n  sources:\n    - static: [10.0.0.2]\n"),
            (Errors{"node.yaml:4:1: discovery: needs a cluster: section"}));
}

TEST(NodeClusterTest, EmptyClusterKeyIsNotAMap) {
  EXPECT_EQ(errorsOf("cluster:\n"), (Errors{"node.yaml:4:1: cluster: expected a map, got nothing"}));
}

TEST(NodeClusterTest, SourcesAreRequiredAndNotEmpty) {
  EXPECT_EQ(errorsOf("cluster: {}\ndiscovery: {timeout: 1s}\n"),
            (Errors{"node.yaml:5:12: discovery.sources: required"}));
  EXPECT_EQ(errorsOf("cluster: {}\ndiscovery: {sources: []}\n"),
            (Errors{"node.yaml:5:22: discovery.sources: must not be empty"}));
}

TEST(NodeClusterTest, SourceWithoutAKind) {
  EXPECT_EQ(errorsOf(withSources("    - static: [10.0.0.2]\n    - port: 7444\n")),
            (Errors{"node.yaml:8:7: discovery.sources[1]: needs exactly one of static, url, dns, git"}));
}

TEST(NodeClusterTest, SourceWithTwoOrThreeKinds) {
  EXPECT_EQ(errorsOf(withSources("    - url: http://10.0.0.1/peers\n      dns: shoal.test\n")),
            (Errors{"node.yaml:7:7: discovery.sources[0]: needs exactly one of static, url, dns, git, got url and dns"}));
  EXPECT_EQ(errorsOf(withSources("    - {static: [a], dns: b, git: c}\n")),
            (Errors{"node.yaml:7:7: discovery.sources[0]: needs exactly one of static, url, dns, git, got static, dns "
                    "and git"}));
}

TEST(NodeClusterTest, KeysOfAnotherKind) {
  EXPECT_EQ(errorsOf(withSources("    - dns: shoal.test\n      publish: true\n      ca_file: ca.pem\n"
                                 "    - static: [a]\n      port: 7444\n")),
            (Errors{"node.yaml:8:7: discovery.sources[0].publish: not a key of a dns source; expected one of: dns, "
                    "port, server",
                    "node.yaml:9:7: discovery.sources[0].ca_file: not a key of a dns source; expected one of: dns, "
                    "port, server",
                    "node.yaml:11:7: discovery.sources[1].port: not a key of a static source; expected one of: static"}));
}

TEST(NodeClusterTest, UnknownSourceKey) {
  EXPECT_EQ(errorsOf(withSources("    - dns: shoal.test\n      prot: 7444\n")),
            (Errors{"node.yaml:8:7: discovery.sources[0].prot: unknown key; expected one of: branch, ca_file, dns, git, "
                    "path, port, publish, server, static, token_file, url"}));
}

TEST(NodeClusterTest, SourceThatIsNotAMap) {
  EXPECT_EQ(errorsOf(withSources("    - 10.0.0.2\n")),
            (Errors{"node.yaml:7:7: discovery.sources[0]: expected a map, got \"10.0.0.2\""}));
}

TEST(NodeClusterTest, StaticAddresses) {
  EXPECT_EQ(errorsOf(withSources("    - static: []\n")),
            (Errors{"node.yaml:7:15: discovery.sources[0].static: must not be empty"}));
  const std::string expected =
      "expected an address like \"10.0.0.2\", \"10.0.0.2:7444\", \"n1.example.com\" or \"[fd00::1]:7444\", got ";
  EXPECT_EQ(errorsOf(withSources("    - static:\n      - \"a b\"\n      - h:99999\n      - \"[zz]:1\"\n"
                                 "      - 1.2.3.4:0\n      - \"[fd00::1]x\"\n      - \"\"\n      - ok.example:80\n")),
            (Errors{"node.yaml:8:9: discovery.sources[0].static[0]: " + expected + "\"a b\"",
                    "node.yaml:9:9: discovery.sources[0].static[1]: " + expected + "\"h:99999\"",
                    "node.yaml:10:9: discovery.sources[0].static[2]: " + expected + "\"[zz]:1\"",
                    "node.yaml:11:9: discovery.sources[0].static[3]: " + expected + "\"1.2.3.4:0\"",
                    "node.yaml:12:9: discovery.sources[0].static[4]: " + expected + "\"[fd00::1]x\"",
                    "node.yaml:13:9: discovery.sources[0].static[5]: " + expected + "\"\""}));
  EXPECT_EQ(errorsOf(withSources("    - static: [7444]\n")),
            (Errors{"node.yaml:7:16: discovery.sources[0].static[0]: " + expected + "7444"}));
}

TEST(NodeClusterTest, UrlScheme) {
  EXPECT_EQ(errorsOf(withSources("    - url: ftp://10.0.0.1/peers\n    - url: https:///peers\n")),
            (Errors{"node.yaml:7:12: discovery.sources[0].url: must be an http:// or https:// URL, got "
                    "\"ftp://10.0.0.1/peers\"",
                    "node.yaml:8:12: discovery.sources[1].url: must be an http:// or https:// URL, got "
                    "\"https:///peers\""}));
}

TEST(NodeClusterTest, DnsNameServerAndPort) {
  EXPECT_EQ(errorsOf(withSources("    - dns: -x.example\n      server: localhost:53\n      port: 0\n"
                                 "    - dns: a..b\n      port: 65536\n      server: 10.0.0.1:x\n")),
            (Errors{"node.yaml:7:12: discovery.sources[0].dns: must be a DNS name like peers.example.com, got "
                    "\"-x.example\"",
                    "node.yaml:8:15: discovery.sources[0].server: expected an IPv4 address with an optional port like "
                    "\"127.0.0.1:5353\", got \"localhost:53\"",
                    "node.yaml:9:13: discovery.sources[0].port: must be at least 1, got 0",
                    "node.yaml:10:12: discovery.sources[1].dns: must be a DNS name like peers.example.com, got \"a..b\"",
                    "node.yaml:11:13: discovery.sources[1].port: must be at most 65535, got 65536",
                    "node.yaml:12:15: discovery.sources[1].server: expected an IPv4 address with an optional port like "
                    "\"127.0.0.1:5353\", got \"10.0.0.1:x\""}));
  NodeConfig c = load(withSources("    - {dns: shoal.test., server: 10.0.0.53}\n"));
  EXPECT_EQ(c.discovery.sources.at(0).server, "10.0.0.53");
}

TEST(NodeClusterTest, GitPathAndBranch) {
  EXPECT_EQ(errorsOf(withSources("    - {git: r, path: ../x, branch: -b}\n    - {git: r, path: /x, branch: \"a b\"}\n"
                                 "    - {git: r, path: dir/}\n")),
            (Errors{"node.yaml:7:22: discovery.sources[0].path: must be a file inside the repo (relative, no '..'), "
                    "got \"../x\"",
                    "node.yaml:7:36: discovery.sources[0].branch: must be a branch name, got \"-b\"",
                    "node.yaml:8:22: discovery.sources[1].path: must be a file inside the repo (relative, no '..'), "
                    "got \"/x\"",
                    "node.yaml:8:34: discovery.sources[1].branch: must be a branch name, got \"a b\"",
                    "node.yaml:9:22: discovery.sources[2].path: must be a file inside the repo (relative, no '..'), "
                    "got \"dir/\""}));
}

TEST(NodeClusterTest, DurationMinimums) {
  EXPECT_EQ(errorsOf("cluster:\n  lease_ttl: 1999ms\n  probe_interval: 0s\ndiscovery:\n  timeout: 0ms\n"
                     "  sources: [{dns: shoal.test}]\n"),
            (Errors{"node.yaml:5:14: cluster.lease_ttl: must be at least 2s, got 1999ms",
                    "node.yaml:6:19: cluster.probe_interval: must be at least 1ms, got 0s",
                    "node.yaml:8:12: discovery.timeout: must be at least 1ms, got 0ms"}));
  EXPECT_EQ(errorsOf("cluster: {stable_for: 3}\n"),
            (Errors{"node.yaml:4:23: cluster.stable_for: expected a duration like 500ms, 2s, 5m, got 3"}));
}

TEST(NodeClusterTest, ContactsAndPortRanges) {
  EXPECT_EQ(errorsOf("cluster:\n  contacts: 0\n  port: -1\n  etcd: {client_port: 0, peer_port: 65536}\n"),
            (Errors{"node.yaml:5:13: cluster.contacts: must be at least 1, got 0",
                    "node.yaml:6:9: cluster.port: must be at least 0, got -1",
                    "node.yaml:7:23: cluster.etcd.client_port: must be at least 1, got 0",
                    "node.yaml:7:37: cluster.etcd.peer_port: must be at most 65535, got 65536"}));
}

TEST(NodeClusterTest, LabelKeysAndValues) {
  const std::string why =
      "must be a label key: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, "
      "after an optional DNS prefix like example.com/, got ";
  EXPECT_EQ(errorsOf("cluster:\n  labels:\n    Zone!: a\n    -rack: b\n    Example.com/x: c\n    ok: 1\n"),
            (Errors{"node.yaml:6:5: cluster.labels.Zone!: " + why + "\"Zone!\"",
                    "node.yaml:7:5: cluster.labels.-rack: " + why + "\"-rack\"",
                    "node.yaml:8:5: cluster.labels.Example.com/x: " + why + "\"Example.com/x\"",
                    "node.yaml:9:9: cluster.labels.ok: expected a string, got 1"}));
  EXPECT_EQ(errorsOf("cluster: {labels: [zone]}\n"),
            (Errors{"node.yaml:4:19: cluster.labels: expected a map, got a list"}));
}

TEST(NodeClusterTest, PortsMustDifferReportedWhereWritten) {
  EXPECT_EQ(errorsOf("cluster:\n  port: 7443\n  etcd: {client_port: 7444, peer_port: 7444}\n"),
            (Errors{"node.yaml:5:9: cluster.port: must differ from api.port (both 7443)",
                    "node.yaml:6:40: cluster.etcd.peer_port: must differ from cluster.etcd.client_port (both 7444)"}));
  // The default peer_port clashes with the written api.port: reported at api.port.
  EXPECT_EQ(errorsOf("api: {port: 2380}\ncluster: {}\n"),
            (Errors{"node.yaml:4:13: api.port: must differ from cluster.etcd.peer_port (both 2380)"}));
  EXPECT_EQ(errorsOf("cluster: {etcd: {client_port: 7444}}\n"),
            (Errors{"node.yaml:4:31: cluster.etcd.client_port: must differ from cluster.port (both 7444)"}));
}

TEST(NodeClusterTest, PortZeroNeverClashesAndStandaloneIsNotChecked) {
  EXPECT_TRUE(errorsOf("api: {port: 0}\ncluster: {port: 0}\n").empty());
  EXPECT_TRUE(errorsOf("api: {port: 2379}\n").empty());  // no cluster: no etcd
}

TEST(NodeClusterTest, AllErrorsAtOnceAcrossBothSections) {
  EXPECT_EQ(errorsOf("cluster:\n  lease_ttl: 1s\n  etcd: {peer_port: 2379}\n"
                     "discovery:\n  sources:\n    - {}\n    - {url: http://x/p, publish: true}\n"),
            (Errors{"node.yaml:5:14: cluster.lease_ttl: must be at least 2s, got 1s",
                    "node.yaml:6:21: cluster.etcd.peer_port: must differ from cluster.etcd.client_port (both 2379)",
                    "node.yaml:9:7: discovery.sources[0]: needs exactly one of static, url, dns, git",
                    "node.yaml:10:25: discovery.sources[1].publish: not a key of a url source; expected one of: url, "
                    "ca_file"}));
}

}  // namespace
}  // namespace shoal
