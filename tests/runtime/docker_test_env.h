// What the Docker tests share: a unique run id, the labels and names derived from it, a busybox
// image built FROM scratch for the run, and the cleanup of everything made with them.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "runtime/container_runtime.h"
#include "runtime/unix_http.h"

namespace shoal::testing {

class DockerTestEnv {
 public:
  DockerTestEnv();   // builds the image; `ready()` says whether that worked
  ~DockerTestEnv();  // removes containers, volumes and images of this run

  bool ready() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  const std::string& runId() const { return run_; }
  std::string runLabel() const { return "shoal.test.run"; }
  Labels labels() const { return {{runLabel(), run_}}; }
  std::string name(const std::string& suffix) const { return "shoalrt-" + run_ + "-" + suffix; }
  std::string volume(const std::string& suffix);  // remembered for removal
  const std::string& image() const { return image_; }
  // A build of a context holding only this Dockerfile, tagged for this run.
  BuildRequest context(const std::string& dockerfile, const std::string& tag_suffix);

  void removeContainers();

 private:
  void build();

  std::string run_;
  std::string image_;
  std::string error_;
  UnixHttpClient http_;
  std::mutex mu_;
  std::vector<std::string> volumes_;  // GUARDED_BY(mu_)
  std::vector<std::string> images_;   // GUARDED_BY(mu_)
};

}  // namespace shoal::testing
