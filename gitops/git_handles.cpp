#include "gitops/git_handles.h"

namespace shoal::git {

void initLibgit2() {
  // libgit2 keeps a reference count; one init for the life of the process is enough and we
  // never shut it down, because handles may outlive any single owner.
  static const int kInit = git_libgit2_init();
  (void)kInit;
}

std::string lastError() {
  const git_error* e = git_error_last();
  if (e == nullptr || e->message == nullptr) return "unknown error";
  return e->message;
}

std::string oidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

bool parseOid(const std::string& hex, git_oid* out) {
  return hex.size() == GIT_OID_HEXSZ && git_oid_fromstr(out, hex.c_str()) == 0;
}

Result<std::string> readBlob(git_repository* repo, const git_oid* id) {
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, repo, id) != 0) {
    return fail(ErrorCode::kIo, "blob " + oidHex(*id) + ": " + lastError());
  }
  Ptr<git_blob> blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(raw)), git_blob_rawsize(raw));
}

Result<Ptr<git_repository>> openRepo(const std::string& path) {
  initLibgit2();
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
    return fail(ErrorCode::kIo, "git repository " + path + ": cannot open: " + lastError(), true);
  }
  return Ptr<git_repository>(raw);
}

}  // namespace shoal::git
