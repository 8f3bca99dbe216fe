// Where spec commits come from, and where their outcomes go back to.
#pragma once

#include <memory>
#include <string>

#include "common/error.h"
#include "gitops/spec_tree.h"

namespace shoal {

class SpecSource {
 public:
  virtual ~SpecSource() = default;
  // Fetches the remote (cheap when nothing changed) and returns the commit id at the head of the
  // configured branch. An unreachable remote is a retryable `kUnavailable` with the reason.
  virtual Result<std::string> poll() = 0;
  // The files at `commit` (which a previous `poll` fetched).
  virtual Result<SpecTreePtr> open(const std::string& commit) = 0;
  // Records `text` as the git note of `commit` under refs/notes/shoal (replacing an older note
  // of shoal's) and pushes the notes ref to the remote where it accepts pushes. A refused push is
  // returned as an error; the note stays in the local mirror and is pushed with the next one.
  virtual Status writeNote(const std::string& commit, const std::string& text) = 0;
};
using SpecSourcePtr = std::unique_ptr<SpecSource>;

}  // namespace shoal
