#include "runtime/docker_stream.h"

#include <gtest/gtest.h>

#include <vector>

#include "runtime/unix_http.h"

namespace shoal::docker {
namespace {

std::string frame(char stream, std::string_view payload) {
  std::string out{stream, 0, 0, 0};
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  return out + std::string(payload);
}

TEST(DockerStreamTest, DemuxesStdoutAndStderrInOrder) {
  // As the daemon sent it for `echo out1; echo err1 >&2` (stderr's frame came first).
  std::string raw = frame(2, "err1\n") + frame(1, "out1\n");
  EXPECT_EQ(demuxLogs(raw), "err1\nout1\n");
  EXPECT_EQ(demuxLogs(""), "");
  EXPECT_EQ(demuxLogs(frame(1, std::string(300, 'x'))), std::string(300, 'x'));
}

TEST(DockerStreamTest, TtyOutputAndTruncatedFramesAreKept) {
  EXPECT_EQ(demuxLogs("plain tty text\n"), "plain tty text\n");
  std::string cut = frame(1, "whole\n") + frame(1, "partial line").substr(0, 12);
  EXPECT_EQ(demuxLogs(cut), "whole\npart");
}

TEST(DockerStreamTest, LineSplitterJoinsLinesAcrossChunks) {
  LineSplitter split;
  std::vector<std::string> lines;
  auto add = [&](std::string_view l) { lines.emplace_back(l); };
  split.feed("{\"a\":1}\n{\"b\"", add);
  split.feed(":2}\r\n\n", add);
  split.feed("tail", add);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  split.finish(add);
  EXPECT_EQ(lines.back(), "tail");
}

TEST(DockerStreamTest, LineTailKeepsTheLastLines) {
  LineTail tail(2);
  tail.add("1");
  tail.add("2");
  tail.add("3");
  EXPECT_EQ(tail.str(), "2\n3");
}

TEST(DockerStreamTest, UrlEncodeKeepsUnreservedAndChosenCharacters) {
  EXPECT_EQ(urlEncode(R"({"label":["a=b"]})"), "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
  EXPECT_EQ(urlEncode("shoal/web:1", "/:"), "shoal/web:1");
  EXPECT_EQ(urlEncode("a b~_.-"), "a%20b~_.-");
}

}  // namespace
}  // namespace shoal::docker
