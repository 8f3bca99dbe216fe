#include "schemas/load_spec.h"

#include <algorithm>
#include <regex>

#include "schemas/spec_builder.h"
#include "schemas/yaml_validator.h"

namespace shoal {
namespace {

const char kClusterFile[] = "cluster.yaml";

bool validAppName(const std::string& name) {
  static const std::regex kName("^[a-z0-9][a-z0-9-]{0,62}$");
  return std::regex_match(name, kName);
}

}  // namespace

std::optional<std::string> appNameOf(const std::string& file) {
  if (!file.starts_with("apps/")) return std::nullopt;
  std::string rest = file.substr(5);
  if (rest.find('/') != std::string::npos) return std::nullopt;
  for (const char* ext : {".yaml", ".yml"}) {
    if (rest.ends_with(ext) && rest.size() > std::char_traits<char>::length(ext)) {
      return rest.substr(0, rest.size() - std::char_traits<char>::length(ext));
    }
  }
  return std::nullopt;
}

std::optional<ClusterSpec> loadClusterFile(const std::string& text, Diagnostics& out, std::set<std::string>* trace) {
  const JsonSchema& schema = schemaFor(SchemaKind::kCluster);
  auto doc = parseYaml(text, kClusterFile, out);
  if (!doc) return std::nullopt;
  validateDocument(schema, *doc, kClusterFile, out);
  if (!doc->IsMap()) return std::nullopt;
  BuildCtx ctx{kClusterFile, &out, trace};
  return buildCluster(Value(*doc, schema, "", "", locOf(*doc), ctx));
}

std::optional<AppDraft> loadAppFile(const std::string& file, const std::string& text, Diagnostics& out,
                                    std::set<std::string>* trace) {
  std::string name = appNameOf(file).value_or(file);
  if (!validAppName(name)) {
    out.push_back(Diagnostic{file, 0, 0, "",
                             "app name \"" + name + "\" (the file's name) must be 1-63 lowercase letters, digits "
                             "or '-', starting with a letter or digit"});
  }
  const JsonSchema& schema = schemaFor(SchemaKind::kApp);
  auto doc = parseYaml(text, file, out);
  if (!doc) return std::nullopt;
  validateDocument(schema, *doc, file, out);
  if (!doc->IsMap()) return std::nullopt;
  BuildCtx ctx{file, &out, trace};
  return buildApp(Value(*doc, schema, "", "", locOf(*doc), ctx), name, file);
}

std::expected<Spec, Diagnostics> loadSpec(const SpecFiles& files) {
  Diagnostics out;
  Spec spec;
  std::optional<ClusterSpec> cluster;
  if (auto it = files.files.find(kClusterFile); it == files.files.end()) {
    out.push_back(Diagnostic{kClusterFile, 0, 0, "", "required file is missing"});
  } else {
    cluster = loadClusterFile(it->second, out);
  }
  if (cluster) spec.cluster = *cluster;
  std::vector<AppDraft> drafts;
  for (const auto& [path, text] : files.files) {
    if (!appNameOf(path)) continue;  // not a spec file: the caller may pass the whole tree
    if (auto draft = loadAppFile(path, text, out)) drafts.push_back(std::move(*draft));
  }
  checkCrossFile(drafts, files, cluster ? &*cluster : nullptr, out);
  if (!out.empty()) {
    sortDiagnostics(out);
    return std::unexpected(std::move(out));
  }
  for (auto& d : drafts) spec.apps.push_back(std::move(d.spec));
  std::sort(spec.apps.begin(), spec.apps.end(), [](const AppSpec& a, const AppSpec& b) { return a.name < b.name; });
  return spec;
}

}  // namespace shoal
