// git::pushLocal: a push into a repository on this machine (see remote_ops.h for why).
#include "gitops/git_handles.h"
#include "gitops/remote_ops.h"

namespace shoal::git {
namespace {

struct PackSink {
  git_odb_writepack* pack;
  git_indexer_progress stats{};
};

int appendToPack(void* buf, size_t size, void* payload) {
  auto* sink = static_cast<PackSink*>(payload);
  return sink->pack->append(sink->pack, buf, size, &sink->stats);
}

// Copies every object reachable from `tip` but not from `have` into `target`.
int copyObjects(git_repository* repo, git_odb* target, const git_oid& tip, const std::optional<git_oid>& have) {
  git_revwalk* raw_walk = nullptr;
  if (int rc = git_revwalk_new(&raw_walk, repo); rc != 0) return rc;
  Ptr<git_revwalk> walk(raw_walk);
  if (int rc = git_revwalk_push(walk.get(), &tip); rc != 0) return rc;
  // Hiding fails when we lack `have`; then we simply send more than needed.
  if (have) git_revwalk_hide(walk.get(), &*have);
  git_packbuilder* raw_pb = nullptr;
  if (int rc = git_packbuilder_new(&raw_pb, repo); rc != 0) return rc;
  Ptr<git_packbuilder> pb(raw_pb);
  if (int rc = git_packbuilder_insert_walk(pb.get(), walk.get()); rc != 0) return rc;
  if (git_packbuilder_object_count(pb.get()) == 0) return 0;
  git_odb_writepack* raw_pack = nullptr;
  if (int rc = git_odb_write_pack(&raw_pack, target, nullptr, nullptr); rc != 0) return rc;
  Ptr<git_odb_writepack> pack(raw_pack);
  PackSink sink{pack.get()};
  if (int rc = git_packbuilder_foreach(pb.get(), appendToPack, &sink); rc != 0) return rc;
  return pack->commit(pack.get(), &sink.stats);
}

}  // namespace

Status pushLocal(git_repository* repo, const std::string& path, const std::string& ref, const git_oid& tip,
                 const std::optional<git_oid>& expected, const std::string& display) {
  auto target = openRepo(path);
  if (!target) return unavailable(display + ": push " + ref + ": " + target.error().message);
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, target->get()) != 0) {
    return unavailable(display + ": push " + ref + ": object database: " + lastError());
  }
  Ptr<git_odb> odb(raw_odb);
  if (copyObjects(repo, odb.get(), tip, expected) != 0) {
    return unavailable(display + ": push " + ref + ": copying objects refused: " + lastError());
  }
  git_reference* out = nullptr;
  int rc = expected ? git_reference_create_matching(&out, target->get(), ref.c_str(), &tip, 1, &*expected, "shoal: push")
                    : git_reference_create(&out, target->get(), ref.c_str(), &tip, 0, "shoal: push");
  git_reference_free(out);
  if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS) {
    return fail(ErrorCode::kConflict, display + ": push " + ref + ": moved by another writer", true);
  }
  if (rc != 0) return unavailable(display + ": push " + ref + " refused: " + lastError());
  return ok();
}

}  // namespace shoal::git
