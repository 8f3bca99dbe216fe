// libgit2 plumbing shared by the git-backed tree and source: owning handles, the one-time
// library start, and error text. Internal to gitops/.
#pragma once

#include <memory>
#include <string>

#include <git2.h>

#include "common/error.h"

namespace shoal::git {

// Every libgit2 handle is owned by a `Ptr<T>`; the deleter picks the matching `*_free`.
struct Deleter {
  void operator()(git_repository* p) const { git_repository_free(p); }
  void operator()(git_remote* p) const { git_remote_free(p); }
  void operator()(git_tree* p) const { git_tree_free(p); }
  void operator()(git_tree_entry* p) const { git_tree_entry_free(p); }
  void operator()(git_blob* p) const { git_blob_free(p); }
  void operator()(git_commit* p) const { git_commit_free(p); }
  void operator()(git_reference* p) const { git_reference_free(p); }
  void operator()(git_signature* p) const { git_signature_free(p); }
  void operator()(git_note* p) const { git_note_free(p); }
  void operator()(git_note_iterator* p) const { git_note_iterator_free(p); }
  void operator()(git_object* p) const { git_object_free(p); }
  void operator()(git_odb* p) const { git_odb_free(p); }
  void operator()(git_revwalk* p) const { git_revwalk_free(p); }
  void operator()(git_packbuilder* p) const { git_packbuilder_free(p); }
  void operator()(git_odb_writepack* p) const { p->free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Deleter>;

// Starts libgit2 once per process (a static guard); every entry point of gitops calls it.
void initLibgit2();

// libgit2's message for the last failed call on this thread ("unknown error" if it gave none).
std::string lastError();

std::string oidHex(const git_oid& oid);
// Parses 40 hex; false if `hex` is not an object id.
bool parseOid(const std::string& hex, git_oid* out);

// The bytes of blob `id`.
Result<std::string> readBlob(git_repository* repo, const git_oid* id);

// Opens the bare (or normal) repository at `path`.
Result<Ptr<git_repository>> openRepo(const std::string& path);

}  // namespace shoal::git
