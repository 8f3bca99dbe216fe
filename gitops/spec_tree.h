// Read-only access to the files of one spec commit, without a work tree.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace shoal {

// Paths are relative to the repo root, '/'-separated, no leading or trailing slash; "" is the root.
// Safe for concurrent reads from several threads (each call opens what it needs).
class SpecTree {
 public:
  virtual ~SpecTree() = default;
  virtual std::string commitId() const = 0;                    // 40 hex
  virtual std::optional<std::string> readFile(const std::string& path) const = 0;
  // Names (not paths) of the regular files directly inside `dir`, sorted. Empty if no such dir.
  virtual std::vector<std::string> listFiles(const std::string& dir) const = 0;
  virtual bool isDir(const std::string& path) const = 0;
  virtual bool isFile(const std::string& path) const = 0;
  // The git tree id (40 hex) of directory `dir`: it changes exactly when something under `dir`
  // changes, so it is the build cache key. nullopt if `dir` is not a directory.
  virtual std::optional<std::string> treeId(const std::string& dir) const = 0;
  // An uncompressed POSIX (ustar) tar of everything under `dir`, paths relative to `dir`, file
  // modes kept (executables stay executable), built in memory. Docker's `/build` reads it.
  virtual Result<std::string> tar(const std::string& dir) const = 0;
};
using SpecTreePtr = std::unique_ptr<SpecTree>;

}  // namespace shoal
