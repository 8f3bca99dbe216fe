// What the reconciler needs to know about the cluster: how many nodes it has now, and whether
// this node is its origin. One node alone is `LocalCluster` (size 1, its own origin); a clustered
// node's is `Membership` (cluster/membership.h), fed by etcd.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace shoal {

class ClusterView {
 public:
  virtual ~ClusterView() = default;
  virtual int size() const = 0;
  virtual std::string nodeId() const = 0;
  // False while the node is still looking for its cluster: the reconciler then takes no step
  // (the size would mean nothing yet).
  virtual bool settled() const { return true; }
  // Whether this node is the cluster's origin (runs `placement: origin` apps). A standalone node
  // is its own origin.
  virtual bool isOrigin() const { return true; }
  // Whether the cluster's leader decides where replicas run (a clustered node with a leader);
  // then `placed(app)` is this node's share: nullopt while the app is not placed (yet).
  virtual bool placesApps() const { return false; }
  virtual std::optional<int> placed(const std::string& /*app*/) const { return std::nullopt; }
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
  bool settled() const override { return settled_.load(); }
  bool isOrigin() const override { return origin_.load(); }
  void setSize(int n) { size_ = n; }
  void setSettled(bool s) { settled_ = s; }
  void setOrigin(bool o) { origin_ = o; }
  // Placed by a leader from now on: apps not given a count here are held.
  void setPlaced(const std::string& app, int replicas) {
    std::lock_guard lock(mu_);
    places_ = true;
    placed_[app] = replicas;
  }
  bool placesApps() const override {
    std::lock_guard lock(mu_);
    return places_;
  }
  std::optional<int> placed(const std::string& app) const override {
    std::lock_guard lock(mu_);
    auto it = placed_.find(app);
    if (it == placed_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  bool places_ = false;                 // GUARDED_BY(mu_)
  std::map<std::string, int> placed_;   // GUARDED_BY(mu_)
  std::string node_id_;
  std::atomic<int> size_;
  std::atomic<bool> settled_{true};
  std::atomic<bool> origin_{true};
};

}  // namespace shoal
