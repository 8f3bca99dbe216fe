// The schema files are the single source of truth: valid JSON, embedded byte for byte, and naming
// exactly the keys the loader reads, so schema and code can't drift apart.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "schemas/json_schema.h"
#include "schemas/spec_builder.h"
#include "schemas/yaml_validator.h"

namespace shoal {
namespace {

std::string readSource(const std::string& name) {
  std::ifstream in(std::string(SHOAL_SCHEMAS_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SchemaFile {
  const char* name;
  SchemaKind kind;
};
const SchemaFile kFiles[] = {{"cluster.schema.json", SchemaKind::kCluster},
                             {"app.schema.json", SchemaKind::kApp},
                             {"node.schema.json", SchemaKind::kNode}};

TEST(SchemaFilesTest, EachIsValidJsonOfDraft202012AndEmbeddedAsIs) {
  for (const auto& f : kFiles) {
    std::string text = readSource(f.name);
    ASSERT_FALSE(text.empty()) << f.name;
    nlohmann::json j = nlohmann::json::parse(text);  // throws on invalid JSON
    EXPECT_EQ(j.at("$schema"), "https://json-schema.org/draft/2020-12/schema") << f.name;
    EXPECT_EQ(j.at("type"), "object") << f.name;
    EXPECT_EQ(j.at("additionalProperties"), false) << f.name;
    EXPECT_EQ(text, schemaText(f.kind)) << f.name << " differs from the copy compiled in; re-run cmake";
    EXPECT_NO_THROW(parseJsonSchema(text)) << f.name;
  }
}

// Every property of every schema has a description, for editors' hover text.
void expectDescriptions(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return;
  if (j.contains("properties")) {
    for (const auto& [key, sub] : j["properties"].items()) {
      EXPECT_TRUE(sub.contains("description")) << where << "." << key;
      expectDescriptions(sub, where + "." + key);
    }
  }
  if (j.contains("items")) expectDescriptions(j["items"], where + "[]");
  if (j.contains("oneOf")) for (const auto& b : j["oneOf"]) expectDescriptions(b, where);
}

TEST(SchemaFilesTest, EveryKeyIsDescribed) {
  for (const auto& f : kFiles) expectDescriptions(nlohmann::json::parse(readSource(f.name)), f.name);
}

// Files that set every key in every form, so the loader visits every branch.
const char kFullCluster[] =
    "name: c\nmin_nodes: 2\nbelow_min: keep\n"
    "roles:\n  hub: {count: {1: 1, 3: 3}, forbid: {a: b}, prefer: {c: d}}\n  ingress: {count: every-node}\n"
    "  db: {count: 2}\n"
    "scoring: {weights: {memory: 1, cpu: 1, uptime: 1, latency: 1}, hysteresis: 10%}\n"
    "quorum_loss: {recover_after: 30s}\nrebalance: true\n";
const char* const kFullApps[] = {
    "build: {context: web, dockerfile: D, args: {A: b}}\nreplicas: 2\nplacement: every-node\ncommand: [a]\nenv: {A: 1}\n"
    "constraints: {disk: ssd}\n"
    "ports: [{container: 80, host: 8080-8089, protocol: tcp, host_ip: 0.0.0.0}, \"81\"]\n"
    "volumes: [{name: v, target: /v, read_only: true}, \"w:/w\"]\n"
    "health: {cmd: x, interval: 1s, timeout: 1s, retries: 2, start_period: 1s, deadline: 1m}\n"
    "resources: {memory: 1G, cpus: 1}\nrestart: always\ndepends_on: [db]\n"
    "update: {max_surge: 1, max_unavailable: 1}\nlabels: {a: b}\n",
    "image: i\nhealth:\n  http: {port: 80, path: /x}\nrole: hub\n",
};
const char kFullNode[] =
    "name: n\ndata_dir: d\nlog_level: warn\n"
    "spec: {repo: r, branch: b, poll_interval: 1s, token_file: t, ca_file: c, write_notes: true}\n"
    "api: {listen: l, port: 1}\n"
    "tls: {cluster_ca_cert: a, cluster_ca_key: b, operator_ca_cert: c, cert_lifetime: 1d}\n"
    "runtime: sim\ndocker_socket: s\nresync_interval: 1s\nstop_timeout: 1s\n"
    "discovery:\n  timeout: 1s\n  sources:\n    - static: [a]\n    - {url: \"http://u\", ca_file: c}\n"
    "    - {dns: d, port: 1, server: 127.0.0.1}\n    - {git: g, path: p, branch: b, token_file: t, publish: true}\n"
    "cluster:\n  listen: l\n  port: 2\n  advertise: \"\"\n  contacts: 1\n  stable_for: 1s\n  probe_interval: 1s\n"
    "  lease_ttl: 2s\n  labels: {a: b}\n  etcd: {binary: e, client_port: 3, peer_port: 4}\n";

TEST(SchemaFilesTest, ClusterSchemaListsExactlyTheKeysTheLoaderReads) {
  std::set<std::string> read;
  Diagnostics diags;
  ASSERT_TRUE(loadClusterFile(kFullCluster, diags, &read));
  EXPECT_EQ(formatDiagnostics(diags), "");
  EXPECT_EQ(read, schemaKeyPaths(schemaFor(SchemaKind::kCluster)));
}

TEST(SchemaFilesTest, AppSchemaListsExactlyTheKeysTheLoaderReads) {
  std::set<std::string> read;
  Diagnostics diags;
  for (const char* text : kFullApps) ASSERT_TRUE(loadAppFile("apps/web.yaml", text, diags, &read));
  EXPECT_EQ(formatDiagnostics(diags), "");
  EXPECT_EQ(read, schemaKeyPaths(schemaFor(SchemaKind::kApp)));
}

TEST(SchemaFilesTest, NodeSchemaListsExactlyTheKeysTheLoaderReads) {
  std::set<std::string> read;
  auto r = parseNodeConfigTraced(kFullNode, "node.yaml", "/", &read);
  ASSERT_TRUE(r) << formatDiagnostics(r.error());
  EXPECT_EQ(read, schemaKeyPaths(schemaFor(SchemaKind::kNode)));
}

TEST(SchemaFilesTest, KeyPathsNameNestedAndListKeys) {
  auto keys = schemaKeyPaths(schemaFor(SchemaKind::kApp));
  EXPECT_TRUE(keys.contains("health.http.port"));
  EXPECT_TRUE(keys.contains("ports[].host"));
  EXPECT_TRUE(keys.contains("build.context"));
  EXPECT_FALSE(keys.contains("env.A"));
  auto cluster = schemaKeyPaths(schemaFor(SchemaKind::kCluster));
  EXPECT_TRUE(cluster.contains("roles.*.count"));  // the keys of every entry of a map
  EXPECT_TRUE(cluster.contains("quorum_loss.recover_after"));
}

TEST(SchemaFilesTest, ValidatorReportsTheSubsetKeywords) {
  JsonSchema s = parseJsonSchema(R"({"type": "object", "additionalProperties": false, "required": ["a"],
    "properties": {"a": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 3}},
                   "b": {"type": "string", "pattern": "^x"}}})");
  Diagnostics out;
  YAML::Node doc = YAML::Load("a: [ab]\nb: y\n");
  validateDocument(s, doc, "f.yaml", out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].str(), "f.yaml:1:4: a: must have at least 2 items");
  EXPECT_EQ(out[1].str(), "f.yaml:1:5: a[0]: must be at least 3 characters long");
  EXPECT_EQ(out[2].str(), "f.yaml:2:4: b: must match ^x, got \"y\"");
}

// `propertyNames` checks every key as a string, even one YAML reads as a number.
TEST(SchemaFilesTest, ValidatorChecksPropertyNames) {
  JsonSchema s = parseJsonSchema(R"({"type": "object", "propertyNames": {"pattern": "^[a-z0-9]+$"},
    "additionalProperties": {"type": "string"}})");
  Diagnostics out;
  validateDocument(s, YAML::Load("ok: a\n1: b\nBad: c\n"), "f.yaml", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].str(), "f.yaml:3:1: Bad: must match ^[a-z0-9]+$, got \"Bad\"");
}

}  // namespace
}  // namespace shoal
