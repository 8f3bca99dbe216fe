#include "runtime/container_runtime.h"

namespace shoal {

// Docker's own words, so logs and status read like `docker ps`.
const char* containerStateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated: return "created";
    case ContainerState::kRunning: return "running";
    case ContainerState::kPaused: return "paused";
    case ContainerState::kRestarting: return "restarting";
    case ContainerState::kRemoving: return "removing";
    case ContainerState::kExited: return "exited";
    case ContainerState::kDead: return "dead";
  }
  return "unknown";
}

const char* healthName(Health h) {
  switch (h) {
    case Health::kNone: return "none";
    case Health::kStarting: return "starting";
    case Health::kHealthy: return "healthy";
    case Health::kUnhealthy: return "unhealthy";
  }
  return "unknown";
}

}  // namespace shoal
