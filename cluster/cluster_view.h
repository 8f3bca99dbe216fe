// What the reconciler needs to know about the cluster: how many nodes it has now. One node alone
// is `LocalCluster` (size 1); the next issue puts etcd membership behind the same interface.
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace shoal {

class ClusterView {
 public:
  virtual ~ClusterView() = default;
  virtual int size() const = 0;
  virtual std::string nodeId() const = 0;
};
using ClusterViewPtr = std::unique_ptr<ClusterView>;

class LocalCluster : public ClusterView {
 public:
  explicit LocalCluster(std::string node_id) : node_id_(std::move(node_id)) {}
  int size() const override { return 1; }
  std::string nodeId() const override { return node_id_; }

 private:
  std::string node_id_;
};

// For tests: a size set by hand.
class FakeCluster : public ClusterView {
 public:
  explicit FakeCluster(std::string node_id, int size = 1) : node_id_(std::move(node_id)), size_(size) {}
  int size() const override { return size_.load(); }
  std::string nodeId() const override { return node_id_; }
  void setSize(int n) { size_ = n; }

 private:
  std::string node_id_;
  std::atomic<int> size_;
};

}  // namespace shoal
