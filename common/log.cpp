#include "common/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace shoal {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& layer) {
  std::lock_guard lock(g_mu);
  if (auto existing = spdlog::get(layer)) return existing;
  // stderr, so a command's stdout stays clean for what it prints on purpose.
  auto made = spdlog::stderr_color_mt(layer);
  made->set_level(g_level);
  made->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  return made;
}

void initLogging(const std::string& level) {
  std::lock_guard lock(g_mu);
  g_level = spdlog::level::from_str(level);
  spdlog::set_level(g_level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

}  // namespace shoal
