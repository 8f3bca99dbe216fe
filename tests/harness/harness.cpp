#include "tests/harness/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <curl/curl.h>

namespace shoal::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  char tmpl[] = "/tmp/shoal-test-XXXXXX";
  char* made = mkdtemp(tmpl);
  if (made == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

CommandResult sh(const std::string& command) {
  CommandResult r;
  std::string full = "(" + command + ") 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void writeFile(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string holdsFor(const std::function<std::string()>& check, std::chrono::seconds span) {
  auto until = std::chrono::steady_clock::now() + span;
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    std::string why = check();
    if (!why.empty()) return "sample " + std::to_string(i) + ": " + why;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return "";
}

SpecRepo::SpecRepo(const std::string& dir) : bare_(dir + "/spec.git"), work_(dir + "/work") {
  auto r = sh("git init -q --bare -b main " + bare_ + " && git init -q -b main " + work_ + " && git -C " + work_ +
              " remote add origin " + bare_);
  if (r.exit_code != 0) throw std::runtime_error("git init: " + r.output);
}

std::string SpecRepo::commit(const std::map<std::string, std::optional<std::string>>& files,
                             const std::string& message) {
  for (const auto& [path, content] : files) {
    if (content) writeFile(work_ + "/" + path, *content);
    else fs::remove(work_ + "/" + path);
  }
  auto r = sh("cd " + work_ + " && git add -A && git -c user.name=test -c user.email=test@localhost commit -q "
              "--allow-empty -m '" + message + "' && git push -q origin main && git rev-parse HEAD");
  if (r.exit_code != 0) throw std::runtime_error("git commit/push: " + r.output);
  std::string id = r.output;
  while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
  return id.substr(id.size() >= 40 ? id.size() - 40 : 0);
}

std::string SpecRepo::note(const std::string& commit) const {
  return sh("git -C " + bare_ + " notes --ref=shoal show " + commit).output;
}

Pki::Pki(const std::string& d) : dir(d) {
  auto r = sh(sourceDir() + "/scripts/make-cas " + dir + " admin");
  if (r.exit_code != 0) throw std::runtime_error("make-cas: " + r.output);
}

NodeProcess::NodeProcess(Options options) : options_(std::move(options)) {
  if (options_.api_port == 0) options_.api_port = freePort();
  node_yaml_ = options_.dir + "/node.yaml";
  const std::string& p = options_.pki_dir;
  writeFile(node_yaml_, "name: test-node\ndata_dir: " + options_.dir + "/data\nlog_level: debug\n"
                        "spec:\n  repo: " + options_.spec_repo + "\n  poll_interval: 300ms\n"
                        "api:\n  listen: 127.0.0.1\n  port: " + std::to_string(options_.api_port) + "\n"
                        "tls:\n  cluster_ca_cert: " + p + "/cluster-ca.crt\n  cluster_ca_key: " + p +
                        "/cluster-ca.key\n  operator_ca_cert: " + p + "/operator-ca.crt\n"
                        "resync_interval: 2s\nstop_timeout: 2s\n" + options_.extra_yaml);
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) kill9();
}

void NodeProcess::start() {
  std::string log = options_.dir + "/node.log";
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string bin = shoalBinary();
    execl(bin.c_str(), bin.c_str(), node_yaml_.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
}

int NodeProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void NodeProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool NodeProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string NodeProcess::log() const { return readFile(options_.dir + "/node.log"); }

namespace {
size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}
}  // namespace

std::optional<NodeProcess::Response> NodeProcess::get(const std::string& path) const {
  return httpsGet("127.0.0.1", options_.api_port, path, options_.pki_dir);
}

std::optional<NodeProcess::Response> httpsGet(const std::string& host, int port, const std::string& path,
                                              const std::string& p) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return std::nullopt;
  std::string url = "https://" + host + ":" + std::to_string(port) + path;
  std::string ca = p + "/cluster-ca.crt", cert = p + "/operator-admin.crt", key = p + "/operator-admin.key";
  NodeProcess::Response r;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLCERT, cert.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLKEY, key.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return std::nullopt;
  return r;
}

std::string shoalBinary() { return SHOAL_BINARY; }
std::string sourceDir() { return SHOAL_SOURCE_DIR; }

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string uniqueName() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(getpid()) + "x" + std::to_string(++n);
}

}  // namespace shoal::testing
