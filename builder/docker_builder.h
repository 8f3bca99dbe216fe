// `ImageBuilder` over a `ContainerRuntime`'s `/build`: the context is the tree at the commit,
// tarred in memory; progress goes to the "builder" log line by line.
#pragma once

#include <atomic>
#include <stop_token>

#include "builder/image_builder.h"
#include "reconcile/state_store.h"
#include "runtime/container_runtime.h"

namespace shoal {

class DockerImageBuilder : public ImageBuilder {
 public:
  // `stop`: requested when the node shuts down; a build in progress is cancelled.
  DockerImageBuilder(ContainerRuntime& runtime, StateStore& store, const Clock& clock, std::stop_token stop = {});
  Result<std::string> imageFor(const AppSpec& app, const SpecTree& tree) override;
  int buildsStarted() const override { return builds_started_.load(); }

 private:
  Result<std::string> build(const AppSpec& app, const SpecTree& tree, const std::string& tree_id,
                            const std::string& tag);

  ContainerRuntime& runtime_;
  StateStore& store_;
  const Clock& clock_;
  std::stop_token stop_;
  std::atomic<int> builds_started_{0};
};

}  // namespace shoal
