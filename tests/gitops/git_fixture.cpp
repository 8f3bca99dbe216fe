#include "tests/gitops/git_fixture.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace shoal::test {

namespace fs = std::filesystem;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string sh(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void GitFixture::SetUp() {
  // The test's git must not read the machine's or the user's config.
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
  setenv("GIT_AUTHOR_NAME", "test", 1);
  setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
  setenv("GIT_COMMITTER_NAME", "test", 1);
  setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
  char tmpl[] = "/tmp/shoal-gitops-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  tmp_ = tmpl;
  remote_ = makeRepo("remote");
  first_ = git(remote_, "rev-parse HEAD");
  mirror_ = tmp_ / "data" / "spec.git";
}

void GitFixture::TearDown() {
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

std::string GitFixture::git(const fs::path& repo, const std::string& args) {
  return sh("git -C " + quote(repo.string()) + " " + args);
}

fs::path GitFixture::makeRepo(const std::string& name, const std::string& branch) {
  fs::path repo = tmp_ / name;
  sh("git init -q -b " + branch + " " + quote(repo.string()));
  commit(repo, {{"cluster.yaml", "min_nodes: 1\n"}}, "first");
  return repo;
}

std::string GitFixture::commit(const fs::path& repo, const std::map<std::string, std::string>& files,
                               const std::string& message) {
  for (const auto& [path, content] : files) {
    fs::path p = repo / path;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  }
  git(repo, "add -A");
  git(repo, "commit -q --allow-empty -m " + quote(message));
  return git(repo, "rev-parse HEAD");
}

}  // namespace shoal::test

// libgit2 1.5.1 leaks pcre2 match data in each `git_remote_lookup`/`git_remote_create` (its config
// scan). GitSource does that once per instance, so the leak is bounded; tell LeakSanitizer (when
// the sanitizer build runs these tests) so that it reports our leaks, not this one.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }
