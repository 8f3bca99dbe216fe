// The git source: an address file at a path on a branch of a repo, read through gitops'
// `GitSource` (a bare mirror of its own) and `GitTree`. A node may publish its own address there:
// the line is appended and the commit pushed, never forced.
#include <git2.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "cluster/discovery_sources.h"
#include "common/log.h"
#include "gitops/git_handles.h"
#include "gitops/git_source.h"
#include "gitops/remote_ops.h"

namespace shoal {
namespace {

// What one round of reading found: the branch tip (none when the branch doesn't exist yet) and
// the file's text ("" when absent).
struct Snapshot {
  std::optional<git_oid> tip;
  std::optional<std::string> text;
};

class GitDiscoverySource : public DiscoverySource {
 public:
  explicit GitDiscoverySource(const DiscoverySourceConfig& c)
      : config_(c),
        source_(GitSourceOptions{.remote = c.repo, .branch = c.branch, .mirror_dir = c.mirror_dir,
                                 .token_file = c.token_file, .write_notes = false}) {}

  std::string describe() const override { return "git " + config_.repo + " " + config_.path + "@" + config_.branch; }
  bool publishes() const override { return config_.publish; }

  // The timeout is not enforced here: libgit2 1.5 has no per-call timeout. Local and file://
  // remotes answer at once; a hanging network remote holds the round (see doc/discovery.md).
  Result<std::vector<PeerAddress>> discover(Duration) override {
    std::lock_guard lock(mu_);
    auto snap = read();
    if (!snap) return std::unexpected(snap.error());
    if (!snap->tip) return failed(ErrorCode::kNotFound, "no branch " + config_.branch + " in " + config_.repo);
    if (!snap->text) return failed(ErrorCode::kNotFound, "no file " + config_.path + " at " + config_.branch);
    auto peers = parseAddressFile(*snap->text);
    if (!peers) return failed(ErrorCode::kInvalid, config_.path + ": " + peers.error().message);
    return peers;
  }

  // Another node may push between our fetch and our push: the push is then refused (the branch
  // moved, or its ref is locked by that push right now), and a new round from a fresh fetch puts
  // our line after theirs. A lock can still be held when the immediate retry comes, so later
  // rounds wait a short random pause first (nodes started together must not retry in step).
  Result<PublishOutcome> publish(const PeerAddress& self) override {
    std::lock_guard lock(mu_);
    auto outcome = publishOnce(self);
    for (int attempt = 1; attempt < kPublishAttempts && !outcome && outcome.error().retryable; ++attempt) {
      logger("cluster")->info("{} (publishing {} again from a fresh fetch)", outcome.error().message, self.str());
      if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(jitter_(rng_) * attempt));
      outcome = publishOnce(self);
    }
    return outcome;
  }

 private:
  std::unexpected<Error> failed(ErrorCode code, const std::string& why, bool retryable = false) const {
    return fail(code, describe() + ": " + why, retryable);
  }

  // gitops says "spec repo X: why"; this source says "git X path@branch: why".
  std::unexpected<Error> rewrap(const Error& e) const {
    std::string prefix = "spec repo " + config_.repo + ": ";
    std::string why = e.message.starts_with(prefix) ? e.message.substr(prefix.size()) : e.message;
    return fail(e.code, describe() + ": " + why, e.retryable);
  }

  Result<Snapshot> read() {
    auto head = source_.poll();
    if (!head && head.error().code == ErrorCode::kNotFound) return Snapshot{};  // no such branch yet
    if (!head) return rewrap(head.error());
    Snapshot snap;
    snap.tip.emplace();
    if (!git::parseOid(*head, &*snap.tip)) return failed(ErrorCode::kInternal, "bad commit id " + *head);
    auto tree = source_.open(*head);
    if (!tree) return rewrap(tree.error());
    snap.text = (*tree)->readFile(config_.path);
    return snap;
  }

  Result<PublishOutcome> publishOnce(const PeerAddress& self) {
    auto snap = read();
    if (!snap) return std::unexpected(snap.error());
    std::string text = snap->text.value_or("");
    auto peers = parseAddressFile(text);
    if (!peers) {
      return failed(ErrorCode::kInvalid, config_.path + " is not an address file, so it is not overwritten: " +
                                             peers.error().message);
    }
    if (std::find(peers->begin(), peers->end(), self) != peers->end()) return PublishOutcome::kUnchanged;
    if (!text.empty() && !text.ends_with("\n")) text += "\n";
    text += self.str() + "\n";
    auto repo = git::openRepo(config_.mirror_dir);
    if (!repo) return rewrap(repo.error());
    auto commit = makeCommit(repo->get(), snap->tip, text, "shoal: publish " + self.str());
    if (!commit) return std::unexpected(commit.error());
    if (auto pushed = push(repo->get(), *commit, snap->tip); !pushed) return rewrap(pushed.error());
    return PublishOutcome::kPublished;
  }

  // A commit whose tree is the parent's with `path` set to `text`, built in an in-memory index:
  // nothing is checked out, so nothing in the repo (a symlink) can redirect the write.
  Result<git_oid> makeCommit(git_repository* repo, const std::optional<git_oid>& parent_id, const std::string& text,
                             const std::string& message) {
    auto lib = [&](const std::string& what) { return failed(ErrorCode::kIo, what + ": " + git::lastError()); };
    git_oid blob_id{}, tree_id{}, commit_id{};
    if (git_blob_create_from_buffer(&blob_id, repo, text.data(), text.size()) != 0) return lib("writing the file");
    git_index* raw_index = nullptr;
    if (git_index_new(&raw_index) != 0) return lib("making an index");
    std::unique_ptr<git_index, void (*)(git_index*)> index(raw_index, git_index_free);
    git::Ptr<git_commit> parent;
    if (parent_id) {
      git_commit* raw = nullptr;
      git_tree* raw_tree = nullptr;
      if (git_commit_lookup(&raw, repo, &*parent_id) != 0) return lib("reading the branch tip");
      parent.reset(raw);
      if (git_commit_tree(&raw_tree, raw) != 0) return lib("reading the branch tip's tree");
      git::Ptr<git_tree> tree(raw_tree);
      if (git_index_read_tree(index.get(), tree.get()) != 0) return lib("reading the branch tip's tree");
    }
    git_index_entry entry{};
    entry.mode = GIT_FILEMODE_BLOB;
    entry.id = blob_id;
    entry.path = config_.path.c_str();
    if (git_index_add(index.get(), &entry) != 0) return lib("adding " + config_.path);
    if (git_index_write_tree_to(&tree_id, index.get(), repo) != 0) return lib("writing the tree");
    git_tree* raw_tree = nullptr;
    if (git_tree_lookup(&raw_tree, repo, &tree_id) != 0) return lib("reading the new tree");
    git::Ptr<git_tree> tree(raw_tree);
    git_signature* raw_sig = nullptr;
    if (git_signature_now(&raw_sig, "shoal", "shoal@localhost") != 0) return lib("signature");
    git::Ptr<git_signature> sig(raw_sig);
    const git_commit* parents[] = {parent.get()};
    if (git_commit_create(&commit_id, repo, nullptr, sig.get(), sig.get(), nullptr, message.c_str(), tree.get(),
                          parent ? 1 : 0, parents) != 0) {
      return lib("committing");
    }
    return commit_id;
  }

  Status push(git_repository* repo, const git_oid& commit, const std::optional<git_oid>& expected) {
    std::string branch_ref = "refs/heads/" + config_.branch;
    std::string display = "spec repo " + config_.repo;
    bool is_url = config_.repo.find("://") != std::string::npos;
    if (!is_url || config_.repo.starts_with("file://")) {
      std::string path = is_url ? config_.repo.substr(7) : config_.repo;
      return git::pushLocal(repo, path, branch_ref, commit, expected, display);
    }
    // libgit2 pushes refs, not ids: name the commit under a ref of our own first.
    const char* kPublishRef = "refs/shoal/discovery-publish";
    git_reference* ref = nullptr;
    if (git_reference_create(&ref, repo, kPublishRef, &commit, 1, "shoal: publish") != 0) {
      return fail(ErrorCode::kIo, display + ": " + git::lastError());
    }
    git_reference_free(ref);
    git_remote* raw = nullptr;
    if (git_remote_lookup(&raw, repo, "origin") != 0) return fail(ErrorCode::kIo, display + ": " + git::lastError());
    git::Ptr<git_remote> origin(raw);
    return git::pushOrigin(origin.get(), {display, config_.token_file}, std::string(kPublishRef) + ":" + branch_ref);
  }

  const DiscoverySourceConfig config_;
  GitSource source_;
  std::mutex mu_;  // one round at a time: reads and publishes share the mirror
  static constexpr int kPublishAttempts = 4;
  std::minstd_rand rng_{std::random_device{}()};   // GUARDED_BY(mu_)
  std::uniform_int_distribution<int> jitter_{5, 25};  // ms, times the attempt number
};

}  // namespace

DiscoverySourcePtr newGitDiscoverySource(const DiscoverySourceConfig& config) {
  return std::make_unique<GitDiscoverySource>(config);
}

}  // namespace shoal
