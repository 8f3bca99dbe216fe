// `node.yaml`: one per machine (or baked into the node image). Validated like the spec files.
#pragma once

#include <map>
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

  // `discovery:`: where the node looks for peers. Only with `cluster:` (else an error).
  struct Discovery {
    Duration timeout{2000};  // per source, per round
    struct Source {
      std::string kind;  // "static", "url", "dns", "git": which of the fields below apply
      std::vector<std::string> addresses;  // static: "host", "host:port", "[v6]:port" (checked)
      std::string url, ca_file;            // url: http(s)://...; ca_file resolved
      std::string name;                    // dns: SRV records of `name`, else its A records with `port`
      int port = 7444;
      std::string server;                  // dns: "ipv4[:port]"; empty = the nameservers of resolv.conf
      std::string repo;                    // git: a path (resolved), file:// or https://
      std::string path = "peers.txt", branch = "main", token_file;  // token_file resolved
      bool publish = false;                // git: add this node's address to the file
    };
    std::vector<Source> sources;  // in file order
  } discovery;

  // `cluster:`: without it the node runs standalone (one node, no etcd, no peer endpoint).
  struct Cluster {
    bool enabled = false;  // true when the `cluster:` section is present
    std::string listen = "0.0.0.0";  // the peer endpoint (mTLS, cluster CA only)
    int port = 7444;                  // 0 = any free port
    std::string advertise;            // the IP other nodes reach this node at; empty = detect
    int contacts = 1;                 // nodes seen (this one included) before forming a cluster
    Duration stable_for{3000};        // discovery unchanged this long before forming
    Duration probe_interval{1000};    // between discovery rounds while looking for a cluster
    Duration lease_ttl{10000};        // membership lease; at least 2 s
    std::map<std::string, std::string> labels;
    struct Etcd {
      std::string binary = "etcd";  // looked up in PATH unless it contains '/' (then resolved)
      int client_port = 2379;
      int peer_port = 2380;
    } etcd;
  } cluster;

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
