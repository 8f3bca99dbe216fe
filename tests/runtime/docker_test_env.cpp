#include "tests/runtime/docker_test_env.h"

#include <unistd.h>

#include <chrono>

#include "runtime/docker_runtime.h"
#include "tests/runtime/ustar.h"

namespace shoal::testing {

DockerTestEnv::DockerTestEnv() : http_("/var/run/docker.sock") {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  run_ = std::to_string(getpid()) + "-" + std::to_string(now % 1000000);
  image_ = "shoal-runtime-test:" + run_;
  build();
}

void DockerTestEnv::build() {
  std::string busybox = readFileForTest("/bin/busybox");
  if (busybox.empty()) {
    error_ = "/bin/busybox is missing: install busybox-static";
    return;
  }
  UstarWriter tar;
  tar.addFile("Dockerfile", "FROM scratch\nCOPY rootfs/ /\n");
  tar.addDirectory("rootfs/");
  tar.addDirectory("rootfs/bin/");
  tar.addFile("rootfs/bin/busybox", busybox, 0755);
  tar.addSymlink("rootfs/bin/sh", "busybox");
  // A layer of this run's own: runs in parallel would otherwise share cached layers, and one run's
  // cleanup deleted the image another was still building on ("failed to get digest").
  tar.addFile("rootfs/shoal-test-run", run_ + "\n");
  {
    std::lock_guard lock(mu_);
    images_.push_back(image_);
  }
  DockerRuntime rt;
  auto id = rt.build(BuildRequest{image_, tar.finish(), "Dockerfile", {}, {}}, nullptr);
  if (!id) error_ = "Docker is needed for these tests and the test image could not be built: " + id.error().str();
}

std::string DockerTestEnv::volume(const std::string& suffix) {
  std::lock_guard lock(mu_);
  volumes_.push_back(name(suffix));
  return volumes_.back();
}

BuildRequest DockerTestEnv::context(const std::string& dockerfile, const std::string& tag_suffix) {
  UstarWriter tar;
  tar.addFile("Dockerfile", dockerfile);
  std::string tag = "shoal-runtime-test:" + run_ + "-" + tag_suffix;
  std::lock_guard lock(mu_);
  images_.push_back(tag);
  return BuildRequest{tag, tar.finish(), "Dockerfile", {}, {}};
}

void DockerTestEnv::removeContainers() {
  DockerRuntime rt;
  auto list = rt.list(labels());
  if (!list) return;
  for (const auto& c : *list) (void)rt.remove(c.id, true);
}

DockerTestEnv::~DockerTestEnv() {
  removeContainers();
  std::lock_guard lock(mu_);
  auto del = [&](const std::string& target) {
    HttpRequest req;
    req.method = "DELETE";
    req.target = target;
    (void)http_.send(req);
  };
  for (const auto& v : volumes_) del("/volumes/" + urlEncode(v) + "?force=1");
  for (const auto& i : images_) del("/images/" + urlEncode(i, ":/") + "?force=1");
}

}  // namespace shoal::testing
