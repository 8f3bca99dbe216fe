#include "gitops/tree_tar.h"

#include <optional>

#include "common/log.h"
#include "gitops/git_handles.h"
#include "gitops/tar_writer.h"

namespace shoal::git {
namespace {

struct Walk {
  git_repository* repo;
  const std::string* where;
  TarWriter writer;
  std::optional<Error> error;
};

// `root` is the entry's parent path relative to the walked tree, with a trailing '/' (or "").
int visit(const char* root, const git_tree_entry* entry, void* payload) {
  auto* walk = static_cast<Walk*>(payload);
  std::string path = std::string(root) + git_tree_entry_name(entry);
  git_filemode_t mode = git_tree_entry_filemode(entry);
  if (mode == GIT_FILEMODE_TREE) {
    walk->writer.addDirectory(path);
    return 0;
  }
  if (mode == GIT_FILEMODE_COMMIT) {
    logger("gitops")->warn("{}: submodule {} skipped in the tar (its files are in another repo)",
                           *walk->where, path);
    return 0;
  }
  auto content = readBlob(walk->repo, git_tree_entry_id(entry));
  if (!content) {
    walk->error = content.error();
    walk->error->message = *walk->where + ": " + path + ": " + walk->error->message;
    return -1;  // stops the walk
  }
  if (mode == GIT_FILEMODE_LINK) {
    walk->writer.addSymlink(path, *content);
  } else {
    walk->writer.addFile(path, *content, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
  }
  return 0;
}

}  // namespace

Result<std::string> tarTree(git_repository* repo, git_tree* tree, const std::string& where) {
  Walk walk{repo, &where, {}, std::nullopt};
  // Pre-order: a directory's entry comes before its contents, as extractors expect.
  int rc = git_tree_walk(tree, GIT_TREEWALK_PRE, visit, &walk);
  if (walk.error) return std::unexpected(*walk.error);
  if (rc != 0) return fail(ErrorCode::kIo, where + ": walking the tree: " + lastError());
  return walk.writer.finish();
}

}  // namespace shoal::git
