#include "builder/docker_builder.h"

#include "common/hash.h"
#include "common/log.h"

namespace shoal {

std::string buildTag(const AppSpec& app, const std::string& context_tree_id) {
  std::string tag = "shoal/" + app.name + ":" + context_tree_id.substr(0, 12);
  if (app.build && (app.build->dockerfile != "Dockerfile" || !app.build->args.empty())) {
    std::string key = app.build->dockerfile;
    for (const auto& [k, v] : app.build->args) key += "\n" + k + "=" + v;
    tag += "-" + stableHash(key).substr(0, 8);
  }
  return tag;
}

DockerImageBuilder::DockerImageBuilder(ContainerRuntime& runtime, StateStore& store, const Clock& clock,
                                       std::stop_token stop)
    : runtime_(runtime), store_(store), clock_(clock), stop_(std::move(stop)) {}

Result<std::string> DockerImageBuilder::imageFor(const AppSpec& app, const SpecTree& tree) {
  if (!app.build) {
    auto exists = runtime_.imageExists(app.image);
    if (!exists) return std::unexpected(exists.error());
    if (!*exists) {
      return fail(ErrorCode::kNotFound, "image \"" + app.image +
                                            "\" is not on this machine and no registry is configured; build it "
                                            "here or use `build:`");
    }
    return app.image;
  }
  auto tree_id = tree.treeId(app.build->context);
  if (!tree_id) {
    return fail(ErrorCode::kInvalid, "build context \"" + app.build->context + "\" is not a directory at commit " +
                                         tree.commitId().substr(0, 12));
  }
  std::string tag = buildTag(app, *tree_id);
  // The image itself is the cache: the store's index only says when and for what it was built.
  auto exists = runtime_.imageExists(tag);
  if (!exists) return std::unexpected(exists.error());
  if (*exists) return tag;
  return build(app, tree, *tree_id, tag);
}

Result<std::string> DockerImageBuilder::build(const AppSpec& app, const SpecTree& tree, const std::string& tree_id,
                                              const std::string& tag) {
  auto log = logger("builder");
  auto context = tree.tar(app.build->context);
  if (!context) return std::unexpected(context.error());
  ++builds_started_;
  log->info("{}: building {} from {} at {} ({} KiB context)", app.name, tag, app.build->context,
            tree.commitId().substr(0, 12), context->size() / 1024);
  BuildRequest req{tag, std::move(*context), app.build->dockerfile, app.build->args, stop_};
  TimePoint started = clock_.now();
  auto image = runtime_.build(req, [&](const std::string& line) { log->info("{}: {}", app.name, line); });
  if (!image) {
    log->error("{}: build of {} failed: {}", app.name, tag, image.error().message);
    return std::unexpected(image.error());
  }
  log->info("{}: built {} in {} ms", app.name, tag, (clock_.now() - started).count());
  (void)store_.putCachedImage(tree_id, app.name, tag, clock_.now());
  return tag;
}

}  // namespace shoal
