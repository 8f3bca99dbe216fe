// Small servers tests run on 127.0.0.1 to talk to: an HTTP server answering fixed routes
// (blocking sockets on a thread) and a UDP DNS responder answering A and SRV questions from a
// zone, its messages encoded by hand. Used by discovery_net_test and cluster_process_test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace shoal::testing {

// A socket bound to 127.0.0.1 on a port the kernel picks.
inline int boundSocket(int type) {
  int fd = socket(AF_INET, type, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

inline int portOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// ---- HTTP: answers {path -> (status, body)}, 404 for anything else; one request per connection.
class HttpServer {
 public:
  explicit HttpServer(std::map<std::string, std::pair<int, std::string>> routes) : routes_(std::move(routes)) {
    fd_ = boundSocket(SOCK_STREAM);
    listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(portOf(fd_)) + path; }

 private:
  void serve() {
    for (;;) {
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(conn, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      auto start = request.find(' ') + 1;
      std::string path = request.substr(start, request.find(' ', start) - start);
      auto it = routes_.find(path);
      auto [status, body] = it == routes_.end() ? std::pair<int, std::string>{404, "not found"} : it->second;
      std::string response = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      send(conn, response.data(), response.size(), MSG_NOSIGNAL);
      close(conn);
    }
  }

  std::map<std::string, std::pair<int, std::string>> routes_;
  int fd_ = -1;
  std::thread thread_;
};

// ---- DNS: a UDP responder answering A and SRV questions from a zone, NXDOMAIN for other names.
struct SrvRecord {
  uint16_t priority, weight, port;
  std::string target;
};
struct ZoneEntry {
  std::vector<SrvRecord> srv{};
  std::vector<std::string> a{};
};

inline void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

inline std::string encodeName(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<char>(dot - start));
    out += name.substr(start, dot - start);
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

class DnsServer {
 public:
  explicit DnsServer(std::map<std::string, ZoneEntry> zone) : zone_(std::move(zone)) {
    fd_ = boundSocket(SOCK_DGRAM);
    thread_ = std::thread([this] { serve(); });
  }
  ~DnsServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(portOf(fd_)); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;  // wakes to notice `stop_`
      unsigned char buf[512];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      std::string reply = answer(std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n)));
      sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  // The question's name (lower case, no final dot), and where the question ends.
  static std::pair<std::string, size_t> readName(const std::string& msg) {
    std::string name;
    size_t pos = 12;
    while (pos < msg.size() && msg[pos] != 0) {
      size_t len = static_cast<unsigned char>(msg[pos]);
      if (!name.empty()) name += '.';
      for (size_t i = 0; i < len; ++i) name += static_cast<char>(std::tolower(msg[pos + 1 + i]));
      pos += len + 1;
    }
    return {name, pos + 1};
  }

  std::string answer(const std::string& query) const {
    auto [name, qend] = readName(query);
    uint16_t qtype = static_cast<uint16_t>((static_cast<unsigned char>(query[qend]) << 8) |
                                           static_cast<unsigned char>(query[qend + 1]));
    auto it = zone_.find(name);
    std::vector<std::string> rdatas;
    uint16_t rtype = qtype;
    if (it != zone_.end() && qtype == 33) {
      for (const auto& s : it->second.srv) {
        std::string rd;
        put16(rd, s.priority), put16(rd, s.weight), put16(rd, s.port);
        rdatas.push_back(rd + encodeName(s.target));
      }
    } else if (it != zone_.end() && qtype == 1) {
      for (const auto& ip : it->second.a) {
        in_addr addr{};
        inet_pton(AF_INET, ip.c_str(), &addr);
        rdatas.emplace_back(reinterpret_cast<char*>(&addr), 4);
      }
    }
    std::string out = query.substr(0, 2);                  // the id
    put16(out, it == zone_.end() ? 0x8183 : 0x8180);       // response, RD, RA; NXDOMAIN or NOERROR
    put16(out, 1), put16(out, static_cast<uint16_t>(rdatas.size())), put16(out, 0), put16(out, 0);
    out += query.substr(12, qend + 4 - 12);                // the question
    for (const auto& rd : rdatas) {
      put16(out, 0xc00c), put16(out, rtype), put16(out, 1), put16(out, 0), put16(out, 60);  // name, type, IN, ttl
      put16(out, static_cast<uint16_t>(rd.size()));
      out += rd;
    }
    return out;
  }

  std::map<std::string, ZoneEntry> zone_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace shoal::testing
