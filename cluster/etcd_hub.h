// The Hub membership uses, over a real etcd child process (cluster/etcd_process.h).
#pragma once

#include "cluster/etcd_process.h"
#include "cluster/membership.h"

namespace shoal {

class EtcdHub : public Hub {
 public:
  explicit EtcdHub(EtcdProcessOptions options) : data_dir_(options.data_dir), process_(std::move(options)) {}
  bool hasData() const override { return EtcdProcess::hasData(data_dir_); }
  Status start() override { return process_.start(); }
  void stop() override { process_.stop(); }
  Status dissolve() override { return process_.dissolve(); }
  std::string clientUrl() const override { return process_.clientUrl(); }
  std::string localUrl() const override { return process_.localUrl(); }
  std::string peerUrl() const override { return process_.peerUrl(); }
  Status join(const std::string& initial_cluster) override { return process_.startJoining(initial_cluster); }
  Status recover() override { return process_.recover(); }
  bool running() const override { return process_.running(); }
  EtcdProcess& process() { return process_; }

 private:
  std::string data_dir_;
  EtcdProcess process_;
};

}  // namespace shoal
