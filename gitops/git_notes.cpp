// GitSource::writeNote: shoal's notes on spec commits, merged with the remote's and pushed.
#include <optional>

#include "common/log.h"
#include "gitops/git_handles.h"
#include "gitops/git_source.h"
#include "gitops/remote_ops.h"

namespace shoal {
namespace {

constexpr const char* kNotesRef = "refs/notes/shoal";
constexpr const char* kRemoteNotesRef = "refs/notes/shoal-origin";

std::optional<git_oid> refTarget(git_repository* repo, const char* name) {
  git_oid oid;
  if (git_reference_name_to_id(&oid, repo, name) != 0) return std::nullopt;
  return oid;
}

git::Ptr<git_commit> commitOf(git_repository* repo, const std::optional<git_oid>& id) {
  git_commit* raw = nullptr;
  if (id && git_commit_lookup(&raw, repo, &*id) != 0) raw = nullptr;
  return git::Ptr<git_commit>(raw);
}

// Adds one note on top of `parent` (null for the first notes commit); returns the new commit.
Result<git_oid> addNote(git_repository* repo, git_commit* parent, const git_signature* sig,
                        const git_oid& target, const std::string& text, bool overwrite) {
  git_oid commit, blob;
  if (git_note_commit_create(&commit, &blob, repo, parent, sig, sig, &target, text.c_str(), overwrite) != 0) {
    return fail(ErrorCode::kIo, "note on " + git::oidHex(target) + ": " + git::lastError());
  }
  return commit;
}

// Copies the notes of `from` that `onto` lacks (notes of pushes the remote refused while another
// writer moved its ref); for commits both have a note on, the remote's, newer, one wins.
Result<std::optional<git_oid>> carryOver(git_repository* repo, git_commit* from,
                                         std::optional<git_oid> onto, const git_signature* sig) {
  git_note_iterator* raw_it = nullptr;
  if (git_note_commit_iterator_new(&raw_it, from) != 0) return onto;
  git::Ptr<git_note_iterator> it(raw_it);
  git_oid note_id, annotated;
  while (git_note_next(&note_id, &annotated, it.get()) == 0) {
    auto base = commitOf(repo, onto);
    git_note* existing = nullptr;
    if (base && git_note_commit_read(&existing, repo, base.get(), &annotated) == 0) {
      git_note_free(existing);
      continue;
    }
    git_note* mine = nullptr;
    if (git_note_commit_read(&mine, repo, from, &annotated) != 0) continue;
    git::Ptr<git_note> owned(mine);
    auto next = addNote(repo, base.get(), sig, annotated, git_note_message(mine), false);
    if (!next) return std::unexpected(next.error());
    onto = *next;
  }
  return onto;
}

// The notes commit to push: the newer of ours and the remote's (merged when they diverged), plus
// the note of `target`. Moves refs/notes/shoal to it.
Result<git_oid> composeNotes(git_repository* repo, const git_oid& target, const std::string& text) {
  git_signature* raw_sig = nullptr;
  if (git_signature_now(&raw_sig, "shoal", "shoal@localhost") != 0) {
    return fail(ErrorCode::kInternal, "notes signature: " + git::lastError());
  }
  git::Ptr<git_signature> sig(raw_sig);
  auto local = refTarget(repo, kNotesRef);
  auto remote = refTarget(repo, kRemoteNotesRef);
  std::optional<git_oid> base = remote ? remote : local;
  bool diverged = false;
  if (local && remote && !git_oid_equal(&*local, &*remote) &&
      git_graph_descendant_of(repo, &*remote, &*local) != 1) {
    if (git_graph_descendant_of(repo, &*local, &*remote) == 1) {
      base = local;  // ours is ahead: only notes the remote refused so far
    } else {
      diverged = true;
    }
  }
  if (diverged) {
    auto mine = commitOf(repo, local);
    auto merged = carryOver(repo, mine.get(), base, sig.get());
    if (!merged) return std::unexpected(merged.error());
    base = *merged;
  }
  auto parent = commitOf(repo, base);
  std::string body = text.ends_with('\n') ? text : text + "\n";  // as `git notes add` stores it
  auto tip = addNote(repo, parent.get(), sig.get(), target, body, true);
  if (!tip) return tip;
  git_reference* ref = nullptr;
  if (git_reference_create(&ref, repo, kNotesRef, &*tip, 1, "shoal: note") != 0) {
    return fail(ErrorCode::kIo, std::string("updating ") + kNotesRef + ": " + git::lastError(), true);
  }
  git_reference_free(ref);
  return tip;
}

}  // namespace

Status GitSource::writeNoteLocked(const std::string& commit, const std::string& text) {
  git_oid target;
  if (!git::parseOid(commit, &target)) {
    return fail(ErrorCode::kInvalid, display() + ": note: \"" + commit + "\" is not a 40-hex commit id");
  }
  git::RemoteAccess access{display(), options_.token_file};
  for (int attempt = 0;; ++attempt) {
    // Fetch failures don't stop the note: it is written to the mirror and pushed next time.
    Status fetched = checkRemoteLocked();
    std::optional<git_oid> remote_notes;
    if (fetched) {
      auto refs = git::fetchOrigin(origin_.get(), access, {{kNotesRef, kRemoteNotesRef}});
      if (!refs) fetched = std::unexpected(refs.error());
      if (refs && refs->contains(kNotesRef)) remote_notes = refs->at(kNotesRef);
    }
    auto tip = composeNotes(repo_.get(), target, text);
    if (!tip) return fail(tip.error().code, display() + ": " + tip.error().message, tip.error().retryable);
    Status pushed = fetched;
    if (fetched && !local_path_.empty()) {
      pushed = git::pushLocal(repo_.get(), local_path_, kNotesRef, *tip, remote_notes, display());
    } else if (fetched) {
      pushed = git::pushOrigin(origin_.get(), access, std::string(kNotesRef) + ":" + kNotesRef);
    }
    if (pushed) {
      git_reference* ref = nullptr;  // the remote now has our tip; next compose starts from it
      if (git_reference_create(&ref, repo_.get(), kRemoteNotesRef, &*tip, 1, "shoal: pushed") == 0) git_reference_free(ref);
      return ok();
    }
    if (pushed.error().code == ErrorCode::kConflict && attempt == 0) continue;
    logger("gitops")->warn("{} (the note on {} is kept in {} and pushed with the next one)",
                           pushed.error().message, commit, options_.mirror_dir);
    Error e = pushed.error();
    e.message += " (the note on " + commit + " is kept in the mirror " + options_.mirror_dir + ")";
    return std::unexpected(e);
  }
}

}  // namespace shoal
