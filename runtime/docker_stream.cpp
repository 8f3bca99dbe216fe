#include "runtime/docker_stream.h"

#include <algorithm>
#include <cstdint>

namespace shoal::docker {

std::string demuxLogs(std::string_view raw) {
  auto framed_at = [&](size_t pos) {
    return pos + 8 <= raw.size() && static_cast<unsigned char>(raw[pos]) <= 2 && raw[pos + 1] == 0 &&
           raw[pos + 2] == 0 && raw[pos + 3] == 0;
  };
  if (!raw.empty() && !framed_at(0)) return std::string(raw);
  std::string out;
  size_t pos = 0;
  while (framed_at(pos)) {
    uint32_t len = 0;
    for (size_t i = 4; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(raw[pos + i]);
    pos += 8;
    size_t take = std::min<size_t>(len, raw.size() - pos);
    out.append(raw.substr(pos, take));
    pos += take;
  }
  return out;
}

void LineSplitter::feed(std::string_view chunk, const std::function<void(std::string_view)>& on_line) {
  size_t start = 0;
  for (size_t nl = chunk.find('\n'); nl != chunk.npos; nl = chunk.find('\n', start)) {
    partial_.append(chunk.substr(start, nl - start));
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (!partial_.empty()) on_line(partial_);
    partial_.clear();
    start = nl + 1;
  }
  partial_.append(chunk.substr(start));
}

void LineSplitter::finish(const std::function<void(std::string_view)>& on_line) {
  if (!partial_.empty()) on_line(partial_);
  partial_.clear();
}

void LineTail::add(std::string line) {
  lines_.push_back(std::move(line));
  if (lines_.size() > max_) lines_.pop_front();
}

std::string LineTail::str() const {
  std::string out;
  for (const auto& l : lines_) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

}  // namespace shoal::docker
