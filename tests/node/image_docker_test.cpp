// The node image, for real: scripts/build-image run on CAs made by scripts/make-cas, the image's
// size and files read back from Docker, the build's refusals, and a node running inside the image
// that drives the host's Docker through the bind-mounted socket and follows a bind-mounted repo.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "tests/harness/harness.h"

namespace shoal::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr long long kMaxImageBytes = 60LL * 1024 * 1024;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// The build dir holding the `shoal` the harness was built with: <build>/node/shoal.
std::string buildDir() { return fs::path(shoalBinary()).parent_path().parent_path().string(); }

// The base64 lines of a PEM file (its BEGIN/END lines left out): what must never leak.
std::vector<std::string> pemBodyLines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(readFile(path));
  for (std::string line; std::getline(in, line);)
    if (line.size() >= 16 && line.rfind("-----", 0) != 0) lines.push_back(line);
  return lines;
}

CommandResult buildImage(const std::string& secrets, const std::string& tag, const std::string& extra = "") {
  return sh("bash " + sourceDir() + "/scripts/build-image --secrets " + secrets + " --build " + buildDir() +
            " --tag " + tag + " " + extra);
}

// The image is built at most once per test binary, by the first test that needs it, from a
// secrets dir straight out of make-cas (operator-ca.key included, as operators keep it), and
// removed after the last test.
class ImageDockerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    run_ = uniqueName();
    tag_ = "shoal-node-test:" + run_;
    dir_ = std::make_unique<TempDir>();
    pki_ = std::make_unique<Pki>(dir_->path() + "/secrets");
  }

  static void TearDownTestSuite() {
    if (built_) sh("docker rmi -f " + tag_);
    built_.reset();
    pki_.reset();
    dir_.reset();
  }

  void SetUp() override {
    ASSERT_EQ(sh("docker version --format '{{.Server.Version}}'").exit_code, 0)
        << "Docker is required for these tests (scripts/test starts dockerd)";
  }

  // Builds the image on first use; fails the calling test if the build failed.
  static void ensureImage() {
    if (!built_) built_ = buildImage(pki_->dir, tag_);
    ASSERT_EQ(built_->exit_code, 0) << built_->output;
  }

  static inline std::string run_, tag_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Pki> pki_;
  static inline std::optional<CommandResult> built_;
};

TEST_F(ImageDockerTest, ImageIsSmallerThan60MiB) {
  ASSERT_NO_FATAL_FAILURE(ensureImage());
  long long size = std::stoll(trimmed(sh("docker image inspect -f '{{.Size}}' " + tag_).output));
  std::cout << "node image size: " << size << " bytes (" << size / (1024.0 * 1024.0) << " MiB)\n";
  EXPECT_LT(size, kMaxImageBytes);
  EXPECT_NE(built_->output.find(tag_ + ": "), std::string::npos) << "build-image prints the size:\n" << built_->output;
  EXPECT_NE(built_->output.find(" MiB ("), std::string::npos) << built_->output;
}

TEST_F(ImageDockerTest, HoldsTheNodeAndNoOperatorKey) {
  ASSERT_NO_FATAL_FAILURE(ensureImage());
  std::string id = trimmed(sh("docker create " + tag_).output);
  ASSERT_EQ(id.size(), 64u) << id;
  std::string tar = dir_->path() + "/export.tar";
  auto exported = sh("docker export -o " + tar + " " + id);
  sh("docker rm -f " + id);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;

  std::string list = sh("tar -tf " + tar).output;
  EXPECT_EQ(list.find("operator-ca.key"), std::string::npos) << list;
  for (const char* path : {"shoal", "usr/bin/etcd", "lib64/ld-linux-x86-64.so.2", "etc/shoal/node.yaml",
                           "etc/shoal/cluster-ca.crt", "etc/shoal/cluster-ca.key", "etc/shoal/operator-ca.crt"})
    EXPECT_NE(list.find(std::string("\n") + path + "\n"), std::string::npos) << path << " missing from:\n" << list;

  std::string content = readFile(tar);
  ASSERT_GT(content.size(), 1000000u);
  std::vector<std::string> operator_key = pemBodyLines(pki_->dir + "/operator-ca.key");
  ASSERT_FALSE(operator_key.empty());
  for (const std::string& line : operator_key)
    EXPECT_EQ(content.find(line), std::string::npos) << "a line of operator-ca.key is in the image: " << line;
  // The same search does find the key that belongs there, so a miss above means something.
  for (const std::string& line : pemBodyLines(pki_->dir + "/cluster-ca.key"))
    EXPECT_NE(content.find(line), std::string::npos) << "cluster-ca.key line not found: " << line;
}

TEST_F(ImageDockerTest, RefusesPrivateKeysBesideTheClusterCaKey) {
  const std::string& good = pki_->dir;
  auto secretsWith = [&](const std::string& name, const std::string& file, const std::string& content) {
    std::string dir = dir_->path() + "/" + name;
    fs::copy(good, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    writeFile(dir + "/" + file, content);
    return dir;
  };
  std::string op_key = readFile(good + "/operator-ca.key");
  std::string refused_tag = tag_ + "-refused";
  std::string prefix = "error: refusing to build the image: ";

  std::string a = secretsWith("key-in-cert", "operator-ca.crt", readFile(good + "/operator-ca.crt") + op_key);
  auto r = buildImage(a, refused_tag);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(prefix + a + "/operator-ca.crt holds 1 private key(s); only its certificate may go into the image"),
            std::string::npos) << r.output;

  std::string b = secretsWith("operator-as-cluster", "cluster-ca.key", op_key);
  r = buildImage(b, refused_tag);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(prefix + b + "/cluster-ca.key is not the key of " + b + "/cluster-ca.crt"), std::string::npos)
      << r.output;

  std::string c = secretsWith("two-keys", "cluster-ca.key", readFile(good + "/cluster-ca.key") + op_key);
  r = buildImage(c, refused_tag);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(prefix + c + "/cluster-ca.key holds 2 private keys; it must hold the cluster CA key alone"),
            std::string::npos) << r.output;

  // A node.yaml carrying a key is caught by the checks of the assembled context: any PEM private
  // key, and any line of the operator CA key however it is wrapped.
  std::string base_yaml = readFile(sourceDir() + "/scripts/image/node.yaml");
  std::string yaml = dir_->path() + "/node-with-key.yaml";
  writeFile(yaml, base_yaml + readFile(good + "/operator-admin.key"));
  r = buildImage(good, refused_tag, "--node-yaml " + yaml);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(prefix + "rootfs/etc/shoal/node.yaml in the context holds a private key; only "
                                   "/etc/shoal/cluster-ca.key may"),
            std::string::npos) << r.output;

  std::string commented = dir_->path() + "/node-with-commented-key.yaml";
  std::string as_comments;
  std::istringstream key_lines(op_key);
  for (std::string line; std::getline(key_lines, line);) as_comments += "# " + line + "\n";
  writeFile(commented, base_yaml + as_comments);
  r = buildImage(good, refused_tag, "--node-yaml " + commented);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(prefix + "these files hold lines of the operator CA key " + good +
                          "/operator-ca.key: rootfs/etc/shoal/node.yaml"),
            std::string::npos) << r.output;

  EXPECT_NE(sh("docker image inspect " + refused_tag).exit_code, 0) << "a refused build made an image";
  sh("docker rmi -f " + refused_tag);
}

// A node in the image, given the host's Docker socket and a bare spec repo, starts the repo's app
// on the host; `docker stop` ends the node with exit code 0 and leaves the app running.
class ImageNodeRun {
 public:
  explicit ImageNodeRun(std::string cluster) : cluster_(std::move(cluster)) {}
  ~ImageNodeRun() {
    sh("docker rm -f " + node());
    sh("docker ps -aq --filter label=shoal.cluster=" + cluster_ + " | xargs -r docker rm -f");
  }
  std::string node() const { return cluster_ + "-node"; }
  std::string appIds() const {
    return trimmed(sh("docker ps -q --filter label=shoal.cluster=" + cluster_ + " --filter label=shoal.app=sleeper")
                       .output);
  }
  std::string logs() const { return sh("docker logs " + node()).output; }

 private:
  std::string cluster_;
};

TEST_F(ImageDockerTest, NodeInContainerStartsTheAppAndStopsWithExitCodeZero) {
  ASSERT_NO_FATAL_FAILURE(ensureImage());
  if (sh("docker image inspect shoal/busybox:local").exit_code != 0) {
    ASSERT_EQ(sh(sourceDir() + "/scripts/base-image").exit_code, 0);
  }
  std::string cluster = "img-" + run_;
  TempDir spec_dir;
  SpecRepo repo(spec_dir.path());
  std::string commit = repo.commit({{"cluster.yaml", "name: " + cluster + "\n"},
                                    {"apps/sleeper.yaml", "image: shoal/busybox:local\ncommand: sleep 600\n"}},
                                   "one app");
  ImageNodeRun run(cluster);

  auto started = sh("docker run -d --name " + run.node() + " -v /var/run/docker.sock:/var/run/docker.sock -v " +
                    repo.bare() + ":/spec " + tag_);
  ASSERT_EQ(started.exit_code, 0) << started.output;
  ASSERT_TRUE(waitFor([&] { return !run.appIds().empty(); }, 30s)) << run.logs();
  std::string app = run.appIds();
  ASSERT_EQ(app.find('\n'), std::string::npos) << "one replica expected: " << app;
  // The node wrote its note back into the bind-mounted repo.
  EXPECT_TRUE(waitFor([&] { return repo.note(commit).find("accepted") != std::string::npos; }, 20s))
      << repo.note(commit) << run.logs();

  auto stopped = sh("docker stop -t 20 " + run.node());
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  EXPECT_EQ(trimmed(sh("docker inspect -f '{{.State.ExitCode}}' " + run.node()).output), "0") << run.logs();
  EXPECT_EQ(trimmed(sh("docker inspect -f '{{.State.Running}}' " + app).output), "true");
  EXPECT_EQ(run.appIds(), app) << "the app container was replaced or removed";
}

}  // namespace
}  // namespace shoal::testing
