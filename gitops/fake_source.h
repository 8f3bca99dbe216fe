// A SpecSource whose commits the test pushes: the fake behind the reconcile and node tests.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gitops/map_tree.h"
#include "gitops/spec_source.h"

namespace shoal {

// Safe for concurrent use by multiple threads.
class FakeSpecSource : public SpecSource {
 public:
  // Adds a commit on top of the previous one and makes it the branch head; returns its 40-hex id
  // (a hash of the parent and the files, so ids are stable from run to run).
  std::string addCommit(MapTree::Files files);

  // While true, `poll` and `writeNote` fail as an unreachable remote does (kUnavailable,
  // retryable); `open` of a commit added earlier still works, as with the real mirror.
  void setUnreachableForTest(bool unreachable);
  // While true, `writeNote` records the note but returns an error, as a read-only remote does.
  void setRefuseNotesForTest(bool refuse);

  // commit id -> the note shoal wrote on it.
  std::map<std::string, std::string> notes() const;
  int pollCount() const;

  Result<std::string> poll() override;
  Result<SpecTreePtr> open(const std::string& commit) override;
  Status writeNote(const std::string& commit, const std::string& text) override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, MapTree::Files> commits_;  // GUARDED_BY(mu_)
  std::string head_;                               // GUARDED_BY(mu_)
  std::map<std::string, std::string> notes_;       // GUARDED_BY(mu_)
  bool unreachable_ = false;                       // GUARDED_BY(mu_)
  bool refuse_notes_ = false;                      // GUARDED_BY(mu_)
  int polls_ = 0;                                  // GUARDED_BY(mu_)
};

}  // namespace shoal
