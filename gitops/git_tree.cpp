#include "gitops/git_tree.h"

#include <algorithm>

#include "common/log.h"
#include "gitops/git_handles.h"
#include "gitops/tree_tar.h"

namespace shoal {

struct GitTree::Handle {
  git::Ptr<git_repository> repo;
  git::Ptr<git_tree> root;
};

namespace {

// Contract paths have no leading or trailing '/', but be forgiving with callers that add one.
std::string clean(const std::string& path) {
  size_t b = path.find_first_not_of('/');
  if (b == std::string::npos) return "";
  size_t e = path.find_last_not_of('/');
  return path.substr(b, e - b + 1);
}

// The entry at `path` under `root`, or null. Owned (bypath entries must be freed).
git::Ptr<git_tree_entry> entryAt(git_tree* root, const std::string& path) {
  git_tree_entry* raw = nullptr;
  if (path.empty() || git_tree_entry_bypath(&raw, root, path.c_str()) != 0) return nullptr;
  return git::Ptr<git_tree_entry>(raw);
}

// The tree at `dir` ("" = root); null if there is no such directory.
git::Ptr<git_tree> treeAt(git_repository* repo, git_tree* root, const std::string& dir) {
  git_tree* raw = nullptr;
  if (dir.empty()) {
    git_tree_dup(&raw, root);
    return git::Ptr<git_tree>(raw);
  }
  auto entry = entryAt(root, dir);
  if (!entry || git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return nullptr;
  if (git_tree_lookup(&raw, repo, git_tree_entry_id(entry.get())) != 0) return nullptr;
  return git::Ptr<git_tree>(raw);
}

bool isRegular(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
}

}  // namespace

GitTree::GitTree(std::string repo_path, std::string commit, std::unique_ptr<Handle> first)
    : repo_path_(std::move(repo_path)), commit_(std::move(commit)) {
  idle_.push_back(std::move(first));
}

GitTree::~GitTree() = default;

Result<std::unique_ptr<GitTree>> GitTree::open(const std::string& repo_path, const std::string& commit) {
  auto handle = openHandle(repo_path, commit);
  if (!handle) return std::unexpected(handle.error());
  return std::unique_ptr<GitTree>(new GitTree(repo_path, commit, std::move(*handle)));
}

Result<std::unique_ptr<GitTree::Handle>> GitTree::openHandle(const std::string& repo_path,
                                                            const std::string& commit_id) {
  git_oid oid;
  if (!git::parseOid(commit_id, &oid)) {
    return fail(ErrorCode::kInvalid, "spec commit \"" + commit_id + "\" is not a 40-hex commit id");
  }
  auto repo = git::openRepo(repo_path);
  if (!repo) return std::unexpected(repo.error());
  git_commit* commit = nullptr;
  if (git_commit_lookup(&commit, repo->get(), &oid) != 0) {
    return fail(ErrorCode::kNotFound, "spec commit " + commit_id + " is not in " + repo_path + ": " + git::lastError());
  }
  git::Ptr<git_commit> owned(commit);
  git_tree* root = nullptr;
  if (git_commit_tree(&root, commit) != 0) {
    return fail(ErrorCode::kIo, "spec commit " + commit_id + " in " + repo_path + ": no tree: " + git::lastError());
  }
  return std::make_unique<Handle>(Handle{std::move(*repo), git::Ptr<git_tree>(root)});
}

Result<std::unique_ptr<GitTree::Handle>> GitTree::borrow() const {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return openHandle(repo_path_, commit_);
}

void GitTree::giveBack(std::unique_ptr<Handle> h) const {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(h));
}

template <typename R, typename Fn>
R GitTree::withHandle(R on_error, Fn&& fn) const {
  auto h = borrow();
  if (!h) {
    // The first handle proved the commit is there; failing now means the disk went away.
    logger("gitops")->error("{}", h.error().message);
    return on_error;
  }
  R result = fn(**h);
  giveBack(std::move(*h));
  return result;
}

std::optional<std::string> GitTree::readFile(const std::string& path) const {
  return withHandle<std::optional<std::string>>(std::nullopt, [&](Handle& h) -> std::optional<std::string> {
    auto entry = entryAt(h.root.get(), clean(path));
    if (!entry || !isRegular(git_tree_entry_filemode(entry.get()))) return std::nullopt;
    auto content = git::readBlob(h.repo.get(), git_tree_entry_id(entry.get()));
    if (!content) return std::nullopt;
    return std::move(*content);
  });
}

std::vector<std::string> GitTree::listFiles(const std::string& dir) const {
  return withHandle(std::vector<std::string>{}, [&](Handle& h) {
    std::vector<std::string> out;
    auto tree = treeAt(h.repo.get(), h.root.get(), clean(dir));
    if (!tree) return out;
    for (size_t i = 0, n = git_tree_entrycount(tree.get()); i < n; ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
      if (isRegular(git_tree_entry_filemode(e))) out.emplace_back(git_tree_entry_name(e));
    }
    std::sort(out.begin(), out.end());  // git orders trees by byte, but say it, not assume it
    return out;
  });
}

bool GitTree::isDir(const std::string& path) const {
  return withHandle(false, [&](Handle& h) {
    std::string p = clean(path);
    if (p.empty()) return true;
    auto entry = entryAt(h.root.get(), p);
    return entry && git_tree_entry_type(entry.get()) == GIT_OBJECT_TREE;
  });
}

bool GitTree::isFile(const std::string& path) const {
  return withHandle(false, [&](Handle& h) {
    auto entry = entryAt(h.root.get(), clean(path));
    return entry && isRegular(git_tree_entry_filemode(entry.get()));
  });
}

std::optional<std::string> GitTree::treeId(const std::string& dir) const {
  return withHandle<std::optional<std::string>>(std::nullopt, [&](Handle& h) -> std::optional<std::string> {
    auto tree = treeAt(h.repo.get(), h.root.get(), clean(dir));
    if (!tree) return std::nullopt;
    return git::oidHex(*git_tree_id(tree.get()));
  });
}

Result<std::string> GitTree::tar(const std::string& dir) const {
  auto h = borrow();
  if (!h) return std::unexpected(h.error());
  std::string d = clean(dir);
  std::string where = "spec commit " + commit_ + (d.empty() ? "" : ", dir " + d);
  auto tree = treeAt((*h)->repo.get(), (*h)->root.get(), d);
  Result<std::string> out = tree ? git::tarTree((*h)->repo.get(), tree.get(), where)
                                 : fail(ErrorCode::kNotFound, where + ": no such directory");
  tree.reset();  // before its repository goes back to the pool
  giveBack(std::move(*h));
  return out;
}

}  // namespace shoal
