#include "gitops/fake_source.h"

namespace shoal {

namespace {
constexpr const char* kRemote = "spec repo fake://test";
}

std::string FakeSpecSource::addCommit(MapTree::Files files) {
  std::lock_guard lock(mu_);
  std::string data = "parent " + head_ + "\n";
  for (const auto& [path, file] : files) {
    data += std::to_string(path.size()) + ":" + path + " " + std::to_string(file.mode) + " " +
            std::to_string(file.content.size()) + ":" + file.content + "\n";
  }
  std::string id = fakeObjectId(data);
  commits_.insert_or_assign(id, std::move(files));
  head_ = id;
  return id;
}

void FakeSpecSource::setUnreachableForTest(bool unreachable) {
  std::lock_guard lock(mu_);
  unreachable_ = unreachable;
}

void FakeSpecSource::setRefuseNotesForTest(bool refuse) {
  std::lock_guard lock(mu_);
  refuse_notes_ = refuse;
}

std::map<std::string, std::string> FakeSpecSource::notes() const {
  std::lock_guard lock(mu_);
  return notes_;
}

int FakeSpecSource::pollCount() const {
  std::lock_guard lock(mu_);
  return polls_;
}

Result<std::string> FakeSpecSource::poll() {
  std::lock_guard lock(mu_);
  ++polls_;
  if (unreachable_) return unavailable(std::string(kRemote) + ": unreachable (set by the test)");
  if (head_.empty()) {
    return fail(ErrorCode::kNotFound, std::string(kRemote) + ": branch \"main\" not found (branches: none)", true);
  }
  return head_;
}

Result<SpecTreePtr> FakeSpecSource::open(const std::string& commit) {
  std::lock_guard lock(mu_);
  auto it = commits_.find(commit);
  if (it == commits_.end()) {
    return fail(ErrorCode::kNotFound, std::string(kRemote) + ": no commit " + commit);
  }
  return std::make_unique<MapTree>(commit, it->second);
}

Status FakeSpecSource::writeNote(const std::string& commit, const std::string& text) {
  std::lock_guard lock(mu_);
  if (!commits_.contains(commit)) {
    return fail(ErrorCode::kNotFound, std::string(kRemote) + ": no commit " + commit + " to note");
  }
  notes_[commit] = text;  // kept even when the "push" below fails, as the mirror keeps it
  if (unreachable_) return unavailable(std::string(kRemote) + ": unreachable (set by the test)");
  if (refuse_notes_) {
    return fail(ErrorCode::kUnavailable, std::string(kRemote) + ": push of refs/notes/shoal refused (set by the test)", true);
  }
  return ok();
}

}  // namespace shoal
