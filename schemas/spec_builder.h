// The second pass: structs of spec.h from validated nodes, with the rules a schema can't express.
// Internal to schemas/ (and its tests); others call `loadSpec`.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "schemas/diagnostic.h"
#include "schemas/fields.h"
#include "schemas/load_spec.h"
#include "schemas/node_config.h"
#include "schemas/spec.h"

namespace shoal {

// A place in a file, for errors the cross-file pass reports later.
struct Where {
  Loc loc;
  std::string path;
};

// An app with the places of the values other files' rules point at.
struct AppDraft {
  AppSpec spec;
  std::vector<Where> port_hosts;  // one per spec.ports entry: its `host` (or the short form)
  std::vector<Where> depends;     // one per spec.depends_on entry
  Where role;                     // `role`, when written
  Where build_context;
  Where dockerfile;
};

ClusterSpec buildCluster(const Value& root);
AppDraft buildApp(const Value& root, const std::string& name, const std::string& file);

// Parts of an app (app_parts.cpp).
void buildBuildSection(const Value& build, AppDraft& app);
void buildPorts(const Value& ports, AppDraft& app);
std::vector<VolumeSpec> buildVolumes(const Value& volumes);
std::optional<HealthSpec> buildHealth(const Value& health);
// A string runs through `sh -c`; a list is the exec form as written.
std::vector<std::string> commandOf(const Value& command);

// Rules across files: duplicate names, host ports published twice, `depends_on`, build context, and
// `role` naming a role of `cluster` (not checked when cluster.yaml is missing or unreadable: nullptr).
void checkCrossFile(std::vector<AppDraft>& apps, const SpecFiles& files, const ClusterSpec* cluster,
                    Diagnostics& out);

// One file through both passes. `trace`, when given, collects the key paths the second pass reads.
std::optional<ClusterSpec> loadClusterFile(const std::string& text, Diagnostics& out,
                                           std::set<std::string>* trace = nullptr);
std::optional<AppDraft> loadAppFile(const std::string& file, const std::string& text, Diagnostics& out,
                                    std::set<std::string>* trace = nullptr);

// node.yaml (node_config.cpp, node_cluster.cpp). `resolvePath`: `path` against `base_dir` unless it
// is absolute or empty. `isRepoUrl`: a git repo given as a URL ("https://...", "file://...",
// "git@host:repo.git") rather than a path.
std::string resolvePath(const std::string& path, const std::string& base_dir);
bool isRepoUrl(const std::string& repo);
// The `discovery` and `cluster` sections, with the rules the schema can't express.
void readDiscovery(const Value& discovery, const std::string& base_dir, NodeConfig::Discovery& d);
void readCluster(const Value& cluster, const std::string& base_dir, NodeConfig::Cluster& c);
// Rules across sections: `discovery` needs `cluster`; the node's ports must differ.
void checkNodeSections(const Value& root);

// `parseNodeConfig`, collecting the key paths read into `trace` when given.
std::expected<NodeConfig, Diagnostics> parseNodeConfigTraced(const std::string& text, const std::string& file,
                                                             const std::string& base_dir,
                                                             std::set<std::string>* trace);

// "apps/web.yaml" -> "web"; nullopt for files that are not apps ("apps/x/y.yaml", "README.md").
std::optional<std::string> appNameOf(const std::string& file);

}  // namespace shoal
