// Real git repos for the gitops integration tests, made with the `git` CLI in a temp dir.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

namespace shoal::test {

// Runs `cmd` through /bin/sh; returns its stdout with the trailing newline removed. Throws (so the
// test fails loudly) when it exits non-zero.
std::string sh(const std::string& cmd);
// Single-quotes `s` for the shell.
std::string quote(const std::string& s);

class GitFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes files (path -> content) into the work repo `repo` and commits them; returns the id.
  std::string commit(const std::filesystem::path& repo, const std::map<std::string, std::string>& files,
                     const std::string& message = "change");
  std::string git(const std::filesystem::path& repo, const std::string& args);
  // A new non-bare repo with one commit on `branch`.
  std::filesystem::path makeRepo(const std::string& name, const std::string& branch = "main");

  std::filesystem::path tmp_;
  std::filesystem::path remote_;  // made by SetUp: a work repo on main with cluster.yaml
  std::filesystem::path mirror_;  // where GitSource keeps its mirror (not made yet)
  std::string first_;             // the remote's first commit
};

}  // namespace shoal::test
