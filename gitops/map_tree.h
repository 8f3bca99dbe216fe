// A SpecTree over files held in memory: the fake that unit tests of other layers read specs from.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "gitops/spec_tree.h"

namespace shoal {

struct MapFile {
  MapFile(std::string content_in, unsigned mode_in = 0644)  // NOLINT: implicit on purpose
      : content(std::move(content_in)), mode(mode_in) {}
  MapFile(const char* content_in, unsigned mode_in = 0644)  // NOLINT: `{"a.yaml", "text"}`
      : content(content_in), mode(mode_in) {}
  std::string content;
  unsigned mode = 0644;  // 0644 or 0755; directories are implied by the paths
};

// Immutable after construction, so safe for concurrent reads.
class MapTree : public SpecTree {
 public:
  // Paths as in SpecTree: relative, '/'-separated.
  using Files = std::map<std::string, MapFile>;

  MapTree(std::string commit_id, Files files);

  std::string commitId() const override { return commit_id_; }
  std::optional<std::string> readFile(const std::string& path) const override;
  std::vector<std::string> listFiles(const std::string& dir) const override;
  bool isDir(const std::string& path) const override;
  bool isFile(const std::string& path) const override;
  // A SHA-1 over the sorted (relative path, mode, content) of the files under `dir`: stable
  // across calls and instances, and it changes exactly when something under `dir` changes.
  std::optional<std::string> treeId(const std::string& dir) const override;
  Result<std::string> tar(const std::string& dir) const override;

  const Files& files() const { return files_; }

 private:
  // The files under `dir` ("" = all), keyed by their path relative to `dir`.
  std::map<std::string, const MapFile*> under(const std::string& dir) const;

  std::string commit_id_;
  Files files_;
};

// The 40-hex SHA-1 of `data`: the object ids the fakes hand out.
std::string fakeObjectId(std::string_view data);

}  // namespace shoal
