// Validation of a whole spec commit: `cluster.yaml` + `apps/*.yaml`, each against its schema, then
// the rules across files. Pure: the caller reads the files (from git) and hands them in.
#pragma once

#include <expected>
#include <functional>
#include <map>
#include <string>

#include "schemas/diagnostic.h"
#include "schemas/spec.h"

namespace shoal {

struct SpecFiles {
  // "cluster.yaml" and every "apps/<name>.yaml" (and .yml) at the commit, path -> content.
  std::map<std::string, std::string> files;
  // True when `dir` (relative to the repo root, no trailing slash) is a directory at the commit.
  std::function<bool(const std::string& dir)> has_dir;
  // True when `path` is a regular file at the commit (used for `build.dockerfile`).
  std::function<bool(const std::string& path)> has_file;
};

// All errors of the commit, sorted, or the spec. Cross-file rules: duplicate app names (apps/web.yaml
// and apps/web.yml), host ports published twice, `depends_on` naming an unknown app or forming a
// cycle, a build context or Dockerfile missing from the tree, `role` naming a role `cluster.yaml`
// does not declare. A missing `cluster.yaml` is an error.
std::expected<Spec, Diagnostics> loadSpec(const SpecFiles& files);

}  // namespace shoal
