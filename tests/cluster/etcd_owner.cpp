// A process that owns an EtcdProcess and does nothing else, for etcd_test's "etcd dies with its
// parent" case: the test SIGKILLs this process and checks that etcd goes too.
//   etcd_owner NAME DATA_DIR CLIENT_PORT PEER_PORT CERT KEY CA LOG PID_FILE
// Writes etcd's pid to PID_FILE once etcd is healthy, then waits to be killed.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "cluster/etcd_process.h"

int main(int argc, char** argv) {
  if (argc != 10) {
    std::fprintf(stderr, "usage: etcd_owner NAME DATA_DIR CLIENT_PORT PEER_PORT CERT KEY CA LOG PID_FILE\n");
    return 2;
  }
  shoal::EtcdProcessOptions o;
  o.name = argv[1];
  o.data_dir = argv[2];
  o.listen_host = "127.0.0.1";
  o.advertise_host = "127.0.0.1";
  o.client_port = std::stoi(argv[3]);
  o.peer_port = std::stoi(argv[4]);
  o.cert_file = argv[5];
  o.key_file = argv[6];
  o.trusted_ca_file = argv[7];
  o.log_file = argv[8];
  shoal::EtcdProcess etcd(o);
  if (auto st = etcd.start(); !st) {
    std::fprintf(stderr, "etcd_owner: %s\n", st.error().str().c_str());
    return 1;
  }
  {
    std::ofstream out(std::string(argv[9]) + ".tmp");
    out << etcd.pid() << "\n";
  }
  std::rename((std::string(argv[9]) + ".tmp").c_str(), argv[9]);
  while (true) ::pause();
}
