// Byte streams of the Docker API: the multiplexed log format and line-delimited JSON streams.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <string_view>

namespace shoal::docker {

// Logs of a container without a TTY come in frames: 8-byte header (stream 0/1/2, 3 zero bytes,
// big-endian payload length) then the payload. Returns the payloads concatenated in order. A body
// that isn't framed (a TTY container) is returned as it is; a truncated last frame is kept.
std::string demuxLogs(std::string_view raw);

// Splits a byte stream into lines ('\n'-terminated, '\r' stripped, empty lines skipped) as chunks
// arrive; a line cut between two chunks is joined.
class LineSplitter {
 public:
  void feed(std::string_view chunk, const std::function<void(std::string_view line)>& on_line);
  // The unterminated rest, if any, once the stream has ended.
  void finish(const std::function<void(std::string_view line)>& on_line);

 private:
  std::string partial_;
};

// The last `max` lines seen, for error messages.
class LineTail {
 public:
  explicit LineTail(size_t max) : max_(max) {}
  void add(std::string line);
  // Lines joined with '\n'.
  std::string str() const;

 private:
  size_t max_;
  std::deque<std::string> lines_;
};

}  // namespace shoal::docker
