// What a caller of `DockerRuntime` sees when the daemon's socket is missing, silent, too old or
// failing: stand-in daemons on unix sockets of the test's own.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "runtime/docker_runtime.h"

namespace shoal {
namespace {

// Accepts connections on a unix socket; answers each with `answer`, or never when it is empty.
class StandInDaemon {
 public:
  explicit StandInDaemon(std::string answer = "")
      : path_("/tmp/shoal-standin-" + std::to_string(getpid()) + "-" + std::to_string(counter_++) + ".sock"),
        answer_(std::move(answer)) {
    std::filesystem::remove(path_);
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd_, 16) == 0;
    thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  }
  ~StandInDaemon() {
    thread_.request_stop();
    thread_.join();
    close(fd_);
    std::filesystem::remove(path_);
  }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }

 private:
  void serve(std::stop_token stop) {
    std::vector<int> held;
    while (!stop.stop_requested()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      if (answer_.empty()) {
        held.push_back(c);  // silent: keep it open, say nothing
        continue;
      }
      readRequestHead(c);
      (void)!write(c, answer_.data(), answer_.size());
      close(c);
    }
    for (int c : held) close(c);
  }
  static void readRequestHead(int c) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) return;
      head.append(buf, static_cast<size_t>(n));
    }
  }

  static inline std::atomic<int> counter_{0};
  std::string path_;
  std::string answer_;
  int fd_ = -1;
  bool bound_ = false;
  std::jthread thread_;
};

std::string httpAnswer(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

DockerRuntime runtimeOn(const std::string& socket, Duration timeout = Duration(5000)) {
  DockerRuntime::Options opts;
  opts.socket = socket;
  opts.call_timeout = timeout;
  return DockerRuntime(opts);
}

TEST(DockerSocketTest, MissingSocketIsUnavailableWithAHint) {
  std::string path = "/tmp/shoal-no-such-docker-" + std::to_string(getpid()) + ".sock";
  DockerRuntime rt = runtimeOn(path);
  auto r = rt.list({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(r.error().retryable);
  EXPECT_NE(r.error().message.find("docker: cannot connect to " + path), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("(is dockerd running?)"), std::string::npos) << r.error().message;
}

TEST(DockerSocketTest, SilentDaemonTimesOut) {
  StandInDaemon silent;
  ASSERT_TRUE(silent.bound());
  DockerRuntime rt = runtimeOn(silent.path(), Duration(300));
  auto r = rt.list({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout) << r.error().str();
  EXPECT_TRUE(r.error().retryable);
  EXPECT_NE(r.error().message.find(silent.path()), std::string::npos) << r.error().message;
}

TEST(DockerSocketTest, TooOldDaemonIsRefused) {
  StandInDaemon old(httpAnswer(200, R"({"Version":"1.12.6","ApiVersion":"1.24"})"));
  ASSERT_TRUE(old.bound());
  DockerRuntime rt = runtimeOn(old.path());
  auto r = rt.list({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(r.error().retryable);
  EXPECT_NE(r.error().message.find("speaks API 1.24; shoal needs 1.25 or newer"), std::string::npos)
      << r.error().message;
}

TEST(DockerSocketTest, DaemonErrorsCarryDockersMessage) {
  // Every request, /version included, gets this answer: the version check fails first.
  StandInDaemon failing(httpAnswer(500, R"({"message":"error during connect: disk full"})"));
  ASSERT_TRUE(failing.bound());
  DockerRuntime rt = runtimeOn(failing.path());
  auto r = rt.inspect("x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(r.error().retryable);
  EXPECT_NE(r.error().message.find("disk full"), std::string::npos) << r.error().message;
}

TEST(DockerSocketTest, ConcurrentCallsShareOneRuntime) {
  DockerRuntime rt;
  std::vector<std::future<Result<std::vector<ContainerInfo>>>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(std::async(std::launch::async, [&] { return rt.list({{"shoal.test.none", "x"}}); }));
  for (auto& c : calls) {
    auto r = c.get();
    EXPECT_TRUE(r) << r.error().str();
  }
}

}  // namespace
}  // namespace shoal
