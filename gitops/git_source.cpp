#include "gitops/git_source.h"

#include <algorithm>
#include <filesystem>

#include "common/log.h"
#include "gitops/git_handles.h"
#include "gitops/git_tree.h"
#include "gitops/remote_ops.h"

namespace shoal {

namespace fs = std::filesystem;

namespace {

bool isUrl(const std::string& remote) { return remote.find("://") != std::string::npos; }

// The directory a local remote names (a plain path or file://), or "" for network URLs.
std::string localPath(const std::string& remote) {
  if (remote.starts_with("file://")) return remote.substr(7);
  return isUrl(remote) ? "" : remote;
}

std::string branchList(const git::RemoteRefs& refs) {
  std::string out;
  for (const auto& [name, oid] : refs) {
    if (!name.starts_with("refs/heads/")) continue;
    out += (out.empty() ? "" : ", ") + name.substr(11);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

void GitSource::Deleter::operator()(git_repository* repo) const { git_repository_free(repo); }
void GitSource::Deleter::operator()(git_remote* remote) const { git_remote_free(remote); }

GitSource::GitSource(GitSourceOptions options) : options_(std::move(options)) {
  git::initLibgit2();
  std::error_code ec;
  url_ = isUrl(options_.remote) ? options_.remote : fs::absolute(options_.remote, ec).string();
  if (ec) url_ = options_.remote;
  local_path_ = localPath(options_.remote);
  if (!options_.ca_file.empty() &&
      git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, options_.ca_file.c_str(), nullptr) != 0) {
    // Not fatal here: the fetch that needs it fails with the TLS error, which names the host.
    logger("gitops")->error("{}: ca_file {}: {}", display(), options_.ca_file, git::lastError());
  }
}

GitSource::~GitSource() = default;

std::string GitSource::display() const { return "spec repo " + options_.remote; }

Status GitSource::prepareLocked() {
  if (repo_) return ok();  // origin was set when the mirror was opened
  git_repository* raw_repo = nullptr;
  if (git_repository_open_ext(&raw_repo, options_.mirror_dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0 &&
      git_repository_init(&raw_repo, options_.mirror_dir.c_str(), /*is_bare=*/1) != 0) {
    return fail(ErrorCode::kIo, "spec mirror " + options_.mirror_dir + ": cannot open or create: " + git::lastError(), true);
  }
  std::unique_ptr<git_repository, Deleter> repo(raw_repo);
  git_remote* raw = nullptr;
  int rc = git_remote_lookup(&raw, repo.get(), "origin");
  git::Ptr<git_remote> remote(raw);
  if (rc == GIT_ENOTFOUND) {
    rc = git_remote_create(&raw, repo.get(), "origin", url_.c_str());
    remote.reset(raw);
  } else if (rc == 0 && url_ != git_remote_url(raw)) {
    logger("gitops")->info("spec mirror {}: origin moves from {} to {}", options_.mirror_dir, git_remote_url(raw), url_);
    rc = git_remote_set_url(repo.get(), "origin", url_.c_str());
    raw = nullptr;
    if (rc == 0) rc = git_remote_lookup(&raw, repo.get(), "origin");  // a handle with the new URL
    remote.reset(raw);
  }
  if (rc != 0) {
    return fail(ErrorCode::kIo, "spec mirror " + options_.mirror_dir + ": setting origin to " + url_ + ": " + git::lastError(), true);
  }
  repo_ = std::move(repo);
  origin_.reset(remote.release());
  return ok();
}

Status GitSource::checkRemoteLocked() const {
  std::error_code ec;
  if (!local_path_.empty() && !fs::is_directory(local_path_, ec)) {
    // libgit2 would say "unsupported URL protocol", which sends people looking in the wrong place.
    return unavailable(display() + ": no such directory");
  }
  return ok();
}

Result<std::string> GitSource::poll() {
  std::lock_guard lock(mu_);
  if (auto st = prepareLocked(); !st) return std::unexpected(st.error());
  if (auto st = checkRemoteLocked(); !st) return std::unexpected(st.error());
  std::string branch_ref = "refs/heads/" + options_.branch;
  auto refs = git::fetchOrigin(origin_.get(), {display(), options_.token_file},
                               {{branch_ref, "refs/remotes/origin/" + options_.branch},
                                {"refs/notes/shoal", "refs/notes/shoal-origin"}});
  if (!refs) return std::unexpected(refs.error());
  auto it = refs->find(branch_ref);
  if (it == refs->end()) {
    // Retryable: the branch may be pushed later.
    return fail(ErrorCode::kNotFound, display() + ": branch \"" + options_.branch +
                                          "\" not found (branches: " + branchList(*refs) + ")", true);
  }
  std::string head = git::oidHex(it->second);
  if (head != last_head_) {
    logger("gitops")->info("{}: {} is at {}", display(), options_.branch, head);
    last_head_ = head;
  }
  return head;
}

Result<SpecTreePtr> GitSource::open(const std::string& commit) {
  auto tree = GitTree::open(options_.mirror_dir, commit);
  if (!tree) return std::unexpected(tree.error());
  return SpecTreePtr(std::move(*tree));
}

Status GitSource::writeNote(const std::string& commit, const std::string& text) {
  if (!options_.write_notes) return ok();
  std::lock_guard lock(mu_);
  if (auto st = prepareLocked(); !st) return st;
  return writeNoteLocked(commit, text);
}

}  // namespace shoal
