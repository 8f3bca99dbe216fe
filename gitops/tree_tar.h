// Walks a git tree into a ustar archive (internal to gitops/; GitTree::tar uses it).
#pragma once

#include <string>

#include <git2.h>

#include "common/error.h"

namespace shoal::git {

// Everything under `tree`, paths relative to it. `where` names the tree in errors and warnings
// ("commit abc…, dir apps/web").
Result<std::string> tarTree(git_repository* repo, git_tree* tree, const std::string& where);

}  // namespace shoal::git
