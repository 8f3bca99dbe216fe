// One spdlog logger per layer, made once by `main` (or a test) through `initLogging`; every layer
// asks for its own by name. Loggers are thread-safe.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace shoal {

// Layer names: "gitops" "schemas" "reconcile" "runtime" "builder" "cluster" "api" "node".
std::shared_ptr<spdlog::logger> logger(const std::string& layer);
// level: "trace" "debug" "info" "warn" "error". Safe to call more than once.
void initLogging(const std::string& level);

}  // namespace shoal
