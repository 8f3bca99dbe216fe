// `node.yaml`: one per machine (or baked into the node image). Validated like the spec files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "schemas/diagnostic.h"

namespace shoal {

struct NodeConfig {
  std::string name;      // shown in status and container labels; default: the host name
  std::string data_dir;  // required: SQLite state, identity, mirror of the spec repo
  std::string log_level = "info";

  struct SpecRepo {
    std::string repo;            // required: a path, file://..., or https://...
    std::string branch = "main";
    Duration poll_interval{1000};
    std::string token_file;      // https only: the token is read from this file
    std::string ca_file;         // https only: extra CA bundle for the git host
    bool write_notes = true;     // write each commit's outcome to refs/notes/shoal
  } spec;

  struct Api {
    std::string listen = "127.0.0.1";
    int port = 7443;
  } api;

  struct Tls {
    std::string cluster_ca_cert;  // required: signs this node's certificate
    std::string cluster_ca_key;   // required
    std::string operator_ca_cert; // required: clients of the status endpoint present certs of it
    Duration cert_lifetime{90LL * 24 * 3600 * 1000};
  } tls;

  std::string runtime = "docker";  // docker | sim
  std::string docker_socket = "/var/run/docker.sock";
  Duration resync_interval{5000};  // full compare with Docker even without events
  Duration stop_timeout{10000};    // grace period given to a container on stop
};

// Reads and validates `path`. Relative paths inside are resolved against the file's directory.
// On error: every problem, as diagnostics naming `path`.
std::expected<NodeConfig, Diagnostics> loadNodeConfig(const std::string& path);
// The same from text already read (`file` names it in diagnostics; `base_dir` resolves paths).
std::expected<NodeConfig, Diagnostics> parseNodeConfig(const std::string& text, const std::string& file,
                                                       const std::string& base_dir);

}  // namespace shoal
