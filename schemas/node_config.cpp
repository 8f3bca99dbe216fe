#include "schemas/node_config.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>

#include "schemas/spec_builder.h"
#include "schemas/yaml_validator.h"

namespace shoal {

namespace fs = std::filesystem;

std::string resolvePath(const std::string& path, const std::string& base_dir) {
  if (path.empty() || base_dir.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// "https://...", "file://...", "ssh://..." and scp-like "git@host:repo.git" are left as they are.
bool isRepoUrl(const std::string& repo) {
  static const std::regex kScpLike(R"(^[^/@]+@[^/:]+:)");
  return repo.find("://") != std::string::npos || std::regex_search(repo, kScpLike);
}

namespace {

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "node";
  return buf;
}

void readSpecRepo(const Value& spec, const std::string& base, NodeConfig::SpecRepo& s) {
  if (auto v = spec.field("repo")) s.repo = isRepoUrl(v->text()) ? v->text() : resolvePath(v->text(), base);
  if (auto v = spec.field("branch")) s.branch = v->text();
  if (auto v = spec.field("poll_interval")) s.poll_interval = v->duration();
  if (auto v = spec.field("token_file")) s.token_file = resolvePath(v->text(), base);
  if (auto v = spec.field("ca_file")) s.ca_file = resolvePath(v->text(), base);
  if (auto v = spec.field("write_notes")) s.write_notes = v->boolean();
}

void readTls(const Value& tls, const std::string& base, NodeConfig::Tls& t) {
  if (auto v = tls.field("cluster_ca_cert")) t.cluster_ca_cert = resolvePath(v->text(), base);
  if (auto v = tls.field("cluster_ca_key")) t.cluster_ca_key = resolvePath(v->text(), base);
  if (auto v = tls.field("operator_ca_cert")) t.operator_ca_cert = resolvePath(v->text(), base);
  if (auto v = tls.field("cert_lifetime")) t.cert_lifetime = v->duration();
}

NodeConfig buildNodeConfig(const Value& root, const std::string& base) {
  NodeConfig c;
  c.name = hostName();
  if (auto v = root.field("name")) c.name = v->text();
  if (auto v = root.field("data_dir")) c.data_dir = resolvePath(v->text(), base);
  if (auto v = root.field("log_level")) c.log_level = v->text();
  if (auto v = root.field("spec")) readSpecRepo(*v, base, c.spec);
  if (auto v = root.field("api")) {
    if (auto f = v->field("listen")) c.api.listen = f->text();
    if (auto f = v->field("port")) c.api.port = f->integer();
  }
  if (auto v = root.field("tls")) readTls(*v, base, c.tls);
  if (auto v = root.field("discovery")) readDiscovery(*v, base, c.discovery);
  c.cluster.enabled = root.has("cluster");
  if (auto v = root.field("cluster")) readCluster(*v, base, c.cluster);
  checkNodeSections(root);
  if (auto v = root.field("runtime")) c.runtime = v->text();
  if (auto v = root.field("docker_socket")) c.docker_socket = v->text();
  if (auto v = root.field("resync_interval")) c.resync_interval = v->duration();
  if (auto v = root.field("stop_timeout")) c.stop_timeout = v->duration();
  return c;
}

}  // namespace

std::expected<NodeConfig, Diagnostics> parseNodeConfigTraced(const std::string& text, const std::string& file,
                                                             const std::string& base_dir,
                                                             std::set<std::string>* trace) {
  Diagnostics out;
  const JsonSchema& schema = schemaFor(SchemaKind::kNode);
  auto doc = parseYaml(text, file, out);
  if (doc) validateDocument(schema, *doc, file, out);
  if (!doc || !doc->IsMap()) return std::unexpected(std::move(out));
  BuildCtx ctx{file, &out, trace};
  NodeConfig config = buildNodeConfig(Value(*doc, schema, "", "", locOf(*doc), ctx), base_dir);
  if (!out.empty()) {
    sortDiagnostics(out);
    return std::unexpected(std::move(out));
  }
  return config;
}

std::expected<NodeConfig, Diagnostics> parseNodeConfig(const std::string& text, const std::string& file,
                                                       const std::string& base_dir) {
  return parseNodeConfigTraced(text, file, base_dir, nullptr);
}

std::expected<NodeConfig, Diagnostics> loadNodeConfig(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::unexpected(Diagnostics{Diagnostic{path, 0, 0, "", std::string("cannot read: ") + std::strerror(errno)}});
  std::string text;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) return std::unexpected(Diagnostics{Diagnostic{path, 0, 0, "", std::string("cannot read: ") + std::strerror(err)}});
  std::error_code ec;
  fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  return parseNodeConfig(text, path, dir.string());
}

}  // namespace shoal
