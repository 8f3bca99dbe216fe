#include "gitops/map_tree.h"

#include <set>

#include <openssl/sha.h>

#include "gitops/tar_writer.h"

namespace shoal {

std::string fakeObjectId(std::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

MapTree::MapTree(std::string commit_id, Files files)
    : commit_id_(std::move(commit_id)), files_(std::move(files)) {}

std::map<std::string, const MapFile*> MapTree::under(const std::string& dir) const {
  std::map<std::string, const MapFile*> out;
  std::string prefix = dir.empty() ? "" : dir + "/";
  for (auto it = files_.lower_bound(prefix); it != files_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.emplace(it->first.substr(prefix.size()), &it->second);
  }
  return out;
}

std::optional<std::string> MapTree::readFile(const std::string& path) const {
  auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  return it->second.content;
}

std::vector<std::string> MapTree::listFiles(const std::string& dir) const {
  std::vector<std::string> out;  // `under` is sorted, so the names come out sorted
  for (const auto& [rel, file] : under(dir)) {
    if (rel.find('/') == std::string::npos) out.push_back(rel);
  }
  return out;
}

bool MapTree::isDir(const std::string& path) const { return !under(path).empty(); }

bool MapTree::isFile(const std::string& path) const { return files_.contains(path); }

std::optional<std::string> MapTree::treeId(const std::string& dir) const {
  auto files = under(dir);
  if (files.empty()) return std::nullopt;
  std::string data;
  for (const auto& [rel, file] : files) {
    // Lengths first, so no two different trees serialize to the same bytes.
    data += std::to_string(rel.size()) + ":" + rel + " " + std::to_string(file->mode) + " " +
            std::to_string(file->content.size()) + ":" + file->content + "\n";
  }
  return fakeObjectId(data);
}

Result<std::string> MapTree::tar(const std::string& dir) const {
  auto files = under(dir);
  if (files.empty()) return fail(ErrorCode::kNotFound, "spec " + commit_id_ + ": no directory \"" + dir + "\"");
  TarWriter writer;
  std::set<std::string> dirs_done;
  for (const auto& [rel, file] : files) {
    // Parent directories first, each once, as `git archive` would list them.
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
      std::string parent = rel.substr(0, slash);
      if (dirs_done.insert(parent).second) writer.addDirectory(parent);
    }
    writer.addFile(rel, file->content, file->mode);
  }
  return writer.finish();
}

}  // namespace shoal
