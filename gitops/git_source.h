// The spec source of a real node: a bare mirror of the spec repo, fetched with libgit2.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "gitops/spec_source.h"

struct git_remote;
struct git_repository;

namespace shoal {

// The `{}` initializers let callers use designated initializers (`{.remote = r, .mirror_dir = d}`)
// without -Wmissing-field-initializers.
struct GitSourceOptions {
  std::string remote{};      // a plain path, file://..., https://... (git:// works too)
  std::string branch = "main";
  std::string mirror_dir{};  // the node passes <data_dir>/spec.git; a bare repo made on first use
  std::string token_file{};  // https: read before every fetch and push (rotation needs no restart)
  std::string ca_file{};     // https: extra CA bundle; process-wide in libgit2 (set at construction)
  bool write_notes = true;   // false: `writeNote` does nothing and returns ok
};

// `poll`, `writeNote` and `open` may be called from different threads: the mirror's handle is
// used under a mutex, and each tree `open` returns has handles of its own.
//
// Refs in the mirror: refs/remotes/origin/<branch> (the fetched branch), refs/notes/shoal-origin
// (the remote's notes as last fetched), refs/notes/shoal (shoal's notes, pushed to the remote's
// refs/notes/shoal). A changed `remote` updates the mirror's origin URL at the first call.
class GitSource : public SpecSource {
 public:
  explicit GitSource(GitSourceOptions options);
  ~GitSource() override;

  // One connection: list the remote's refs, fetch the branch and the notes if they moved. A
  // no-op poll transfers no pack and walks no tree.
  Result<std::string> poll() override;
  Result<SpecTreePtr> open(const std::string& commit) override;
  // Merge-safe: starts from the remote's notes when they are ahead (another writer), keeps notes
  // of earlier refused pushes, writes or replaces the note of `commit`, pushes; on a
  // non-fast-forward it re-fetches and retries once.
  Status writeNote(const std::string& commit, const std::string& text) override;

  const GitSourceOptions& options() const { return options_; }

 private:
  Status prepareLocked();         // opens or makes the mirror, sets origin's URL
  Status checkRemoteLocked() const;  // a local path that doesn't exist gets a clear message
  Status writeNoteLocked(const std::string& commit, const std::string& text);
  std::string display() const;

  const GitSourceOptions options_;
  std::string url_;         // what libgit2 is given: a local path made absolute, or the URL as is
  std::string local_path_;  // the remote's directory when it is on this machine, else ""
  std::mutex mu_;
  struct Deleter {
    void operator()(git_repository* repo) const;
    void operator()(git_remote* remote) const;
  };
  std::unique_ptr<git_repository, Deleter> repo_;  // GUARDED_BY(mu_)
  // Looked up once: see remote_ops.h for the leak a lookup per poll would cause.
  std::unique_ptr<git_remote, Deleter> origin_;    // GUARDED_BY(mu_)
  std::string last_head_;                               // GUARDED_BY(mu_)
};

}  // namespace shoal
