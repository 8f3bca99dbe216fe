// Talking to the spec repo's "origin": fetch and push with the credentials shoal is configured
// with. Internal to gitops/; GitSource is the only caller.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <git2.h>

#include "common/error.h"

namespace shoal::git {

struct RemoteAccess {
  std::string display;     // "spec repo <url>": the start of every error message
  std::string token_file;  // https: read before each connection; empty = no credentials
};

// Refs the remote advertised: full ref name -> object id.
using RemoteRefs = std::map<std::string, git_oid>;

// Connects to origin, lists its refs, fetches each wanted (source, destination) pair whose source
// the remote has (forced, as "+src:dst"), and updates the destination refs. Cheap when nothing
// changed: no pack is transferred, FETCH_HEAD is not written. Returns the advertised refs.
// `origin` is kept for the life of the source: libgit2 1.5.1 leaks ~20 KB in every
// `git_remote_lookup` (pcre2 match data of its config scan), which a poll each second would pile up.
Result<RemoteRefs> fetchOrigin(git_remote* origin, const RemoteAccess& access,
                               const std::vector<std::pair<std::string, std::string>>& wanted);

// Pushes `refspec` (not forced) to origin. kConflict when refused as not a fast-forward (the
// caller re-fetches and retries); kUnavailable for any other refusal or failure.
Status pushOrigin(git_remote* origin, const RemoteAccess& access, const std::string& refspec);

// Pushes `tip` to `ref` of the local repository at `path`, bare or not. libgit2's local transport
// refuses non-bare targets, though a notes ref is never checked out, so shoal does what a push
// does: the missing objects go into the target's object database as one pack, then the ref moves
// only if it still points at `expected` (nullopt: only if it doesn't exist). kConflict when
// another writer moved it meanwhile; kUnavailable when the target can't be written.
Status pushLocal(git_repository* repo, const std::string& path, const std::string& ref, const git_oid& tip,
                 const std::optional<git_oid>& expected, const std::string& display);

}  // namespace shoal::git
