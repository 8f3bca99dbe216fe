// A SpecTree over one commit of a (bare) git repository, read straight from the object database.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gitops/spec_tree.h"

struct git_repository;
struct git_tree;

namespace shoal {

// Safe for concurrent reads from several threads: libgit2 handles must not be shared between
// threads at the same time, so each call borrows a repository handle of its own from a small
// pool (opened on demand, kept for the next call).
class GitTree : public SpecTree {
 public:
  // Opens `commit` (40 hex) in the repository at `repo_path`. kNotFound if the commit is not
  // there (e.g. never fetched).
  static Result<std::unique_ptr<GitTree>> open(const std::string& repo_path, const std::string& commit);
  ~GitTree() override;

  std::string commitId() const override { return commit_; }
  std::optional<std::string> readFile(const std::string& path) const override;
  std::vector<std::string> listFiles(const std::string& dir) const override;
  bool isDir(const std::string& path) const override;
  bool isFile(const std::string& path) const override;
  std::optional<std::string> treeId(const std::string& dir) const override;
  // Directories, blobs (0644, or 0755 when executable in git) and symlinks; submodules (commits
  // inside the tree) are skipped with a warning, since their content is not in this repository.
  Result<std::string> tar(const std::string& dir) const override;

  struct Handle;  // a repository handle and the commit's root tree opened in it

 private:
  GitTree(std::string repo_path, std::string commit, std::unique_ptr<Handle> first);

  Result<std::unique_ptr<Handle>> borrow() const;
  void giveBack(std::unique_ptr<Handle> h) const;
  // Runs `fn(handle)` on a borrowed handle; `on_error` if none can be opened.
  template <typename R, typename Fn>
  R withHandle(R on_error, Fn&& fn) const;
  static Result<std::unique_ptr<Handle>> openHandle(const std::string& repo_path,
                                                    const std::string& commit);

  std::string repo_path_;
  std::string commit_;
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<Handle>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace shoal
