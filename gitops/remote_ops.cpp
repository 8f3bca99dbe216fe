#include "gitops/remote_ops.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gitops/git_handles.h"

namespace shoal::git {
namespace {

// What the callbacks see. The token is read once per connection so a rotated token file is
// picked up at the next poll without a restart.
struct CallbackState {
  std::string token;
  int credential_calls = 0;
  std::string push_refusal;  // set by `pushUpdate` when the remote refuses a ref
};

int credentials(git_credential** out, const char* /*url*/, const char* /*user*/,
                unsigned int allowed, void* payload) {
  auto* state = static_cast<CallbackState*>(payload);
  if (state->token.empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) return GIT_PASSTHROUGH;
  // libgit2 asks again after a 401; the same token would loop forever.
  if (state->credential_calls++ > 0) {
    git_error_set_str(GIT_ERROR_NET, "the remote rejected the token");
    return GIT_EAUTH;
  }
  return git_credential_userpass_plaintext_new(out, "x-access-token", state->token.c_str());
}

int pushUpdate(const char* refname, const char* status, void* payload) {
  if (status != nullptr) {
    static_cast<CallbackState*>(payload)->push_refusal = std::string(refname) + ": " + status;
  }
  return 0;
}

Status readToken(const RemoteAccess& access, CallbackState* state) {
  if (access.token_file.empty()) return ok();
  std::ifstream in(access.token_file);
  if (!in) {
    return fail(ErrorCode::kIo, access.display + ": token file " + access.token_file +
                                    ": cannot read: " + std::strerror(errno), true);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  // Files usually end in a newline; a token never has blanks around it.
  const char* kBlank = " \t\r\n";
  size_t b = token.find_first_not_of(kBlank);
  token = b == std::string::npos ? "" : token.substr(b, token.find_last_not_of(kBlank) - b + 1);
  if (token.empty()) {
    return fail(ErrorCode::kInvalid, access.display + ": token file " + access.token_file + " is empty", true);
  }
  state->token = std::move(token);
  return ok();
}

git_remote_callbacks callbacksFor(CallbackState* state) {
  git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
  cb.credentials = credentials;
  cb.push_update_reference = pushUpdate;
  cb.payload = state;
  return cb;
}

// Disconnects on every path out of `fetchOrigin`.
struct Disconnect {
  git_remote* remote;
  ~Disconnect() { git_remote_disconnect(remote); }
};

Result<RemoteRefs> listRefs(git_remote* remote, const RemoteAccess& access) {
  const git_remote_head** heads = nullptr;
  size_t n = 0;
  if (git_remote_ls(&heads, &n, remote) != 0) {
    return unavailable(access.display + ": listing refs: " + lastError());
  }
  RemoteRefs refs;
  for (size_t i = 0; i < n; ++i) refs.emplace(heads[i]->name, heads[i]->oid);
  return refs;
}

}  // namespace

Result<RemoteRefs> fetchOrigin(git_remote* origin, const RemoteAccess& access,
                               const std::vector<std::pair<std::string, std::string>>& wanted) {
  CallbackState state;
  if (auto st = readToken(access, &state); !st) return std::unexpected(st.error());
  git_remote_callbacks cb = callbacksFor(&state);
  if (git_remote_connect(origin, GIT_DIRECTION_FETCH, &cb, nullptr, nullptr) != 0) {
    return unavailable(access.display + ": cannot connect: " + lastError());
  }
  Disconnect disconnect{origin};
  auto refs = listRefs(origin, access);
  if (!refs) return refs;
  std::vector<std::string> specs;
  for (const auto& [src, dst] : wanted) {
    if (refs->contains(src)) specs.push_back("+" + src + ":" + dst);
  }
  if (specs.empty()) return refs;
  std::vector<char*> ptrs;
  for (auto& s : specs) ptrs.push_back(s.data());
  git_strarray arr{ptrs.data(), ptrs.size()};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks = cb;
  opts.update_fetchhead = 0;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  opts.prune = GIT_FETCH_NO_PRUNE;
  if (git_remote_download(origin, &arr, &opts) != 0) {
    return unavailable(access.display + ": fetch: " + lastError());
  }
  if (git_remote_update_tips(origin, &cb, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, "shoal: fetch") != 0) {
    return fail(ErrorCode::kIo, access.display + ": updating the mirror's refs: " + lastError(), true);
  }
  return refs;
}

Status pushOrigin(git_remote* origin, const RemoteAccess& access, const std::string& refspec) {
  CallbackState state;
  if (auto st = readToken(access, &state); !st) return st;
  std::string spec = refspec;
  char* ptr = spec.data();
  git_strarray arr{&ptr, 1};
  git_push_options opts = GIT_PUSH_OPTIONS_INIT;
  opts.callbacks = callbacksFor(&state);
  int rc = git_remote_push(origin, &arr, &opts);
  if (rc == GIT_ENONFASTFORWARD) {
    return fail(ErrorCode::kConflict, access.display + ": push " + refspec + ": not a fast-forward: " + lastError(), true);
  }
  if (rc != 0) return unavailable(access.display + ": push " + refspec + " refused: " + lastError());
  if (!state.push_refusal.empty()) {
    bool non_ff = state.push_refusal.find("fast-forward") != std::string::npos ||
                  state.push_refusal.find("fetch first") != std::string::npos;
    return fail(non_ff ? ErrorCode::kConflict : ErrorCode::kUnavailable,
                access.display + ": push refused: " + state.push_refusal, true);
  }
  return ok();
}

}  // namespace shoal::git
