#include "cluster/etcd_log.h"

#include <fstream>
#include <optional>
#include <vector>

namespace shoal {
namespace {

constexpr size_t kMaxLine = 300;
constexpr uint64_t kMaxRead = 256 * 1024;

// The string value of `"name":"..."` in a one-line JSON object, unescaped enough for a message.
// Not a JSON parser: zap's output is regular, and a line it can't read is shown as it is.
std::optional<std::string> stringField(std::string_view line, std::string_view name) {
  std::string needle = "\"" + std::string(name) + "\":\"";
  size_t at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::string out;
  for (size_t i = at + needle.size(); i < line.size(); ++i) {
    char ch = line[i];
    if (ch == '"') return out;
    if (ch == '\\' && i + 1 < line.size()) {
      char next = line[++i];
      out += next == 'n' ? ' ' : next == 't' ? ' ' : next;
      continue;
    }
    out += ch;
  }
  return std::nullopt;  // unterminated
}

std::string cut(std::string s) {
  if (s.size() > kMaxLine) s = s.substr(0, kMaxLine) + "...";
  return s;
}

}  // namespace

std::string compactEtcdLogLine(std::string_view line) {
  if (line.starts_with("{")) {
    auto level = stringField(line, "level");
    auto msg = stringField(line, "msg");
    if (level && msg) {
      std::string out = *level + " " + *msg;
      if (auto error = stringField(line, "error")) out += ": " + *error;
      return cut(std::move(out));
    }
  }
  return cut(std::string(line));
}

std::string etcdLogTail(const std::string& path, uint64_t from, int lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  auto size = static_cast<uint64_t>(in.tellg());
  if (from > size) from = 0;  // the file was replaced or truncated since
  if (size - from > kMaxRead) from = size - kMaxRead;
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(size - from, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));

  std::vector<std::string_view> all;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty()) all.push_back(line);
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  // Compacted, with runs of the same line folded ("... (x6)": a refused client retries a lot).
  std::vector<std::pair<std::string, int>> runs;
  for (auto line : all) {
    std::string text = compactEtcdLogLine(line);
    if (!runs.empty() && runs.back().first == text) {
      ++runs.back().second;
    } else {
      runs.emplace_back(std::move(text), 1);
    }
  }
  size_t first = runs.size() > static_cast<size_t>(lines) ? runs.size() - static_cast<size_t>(lines) : 0;
  std::string out;
  for (size_t i = first; i < runs.size(); ++i) {
    out += (out.empty() ? "" : " | ") + runs[i].first;
    if (runs[i].second > 1) out += " (x" + std::to_string(runs[i].second) + ")";
  }
  return out;
}

}  // namespace shoal
