// Images for apps: a local image named by `image:`, or one built from the spec repo's tree.
//
// A built image is tagged by the git tree id of its build context ("shoal/web:3f2a9c1b0d4e"), so an
// unchanged source is never rebuilt, whichever commit it comes from; a commit that only changes
// `replicas` or `env` starts no build at all.
#pragma once

#include <memory>
#include <string>

#include "common/error.h"
#include "gitops/spec_tree.h"
#include "schemas/spec.h"

namespace shoal {

class ImageBuilder {
 public:
  virtual ~ImageBuilder() = default;
  // The image reference to run for `app` at the commit of `tree`, building it if needed. A failed
  // build is `kInvalid` whose message ends with the last lines of the build output.
  virtual Result<std::string> imageFor(const AppSpec& app, const SpecTree& tree) = 0;
  // Builds started since this builder was made (a figure for status, metrics and benchmarks).
  virtual int buildsStarted() const = 0;
};
using ImageBuilderPtr = std::unique_ptr<ImageBuilder>;

// The tag an app's build gets: "shoal/<app>:<first 12 of the context tree id>", with a suffix
// when a non-default Dockerfile or build args make the same tree build differently.
std::string buildTag(const AppSpec& app, const std::string& context_tree_id);

}  // namespace shoal
