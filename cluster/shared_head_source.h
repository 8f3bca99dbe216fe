// The spec repo as a clustered node polls it: the git host sees the cluster, not each node. On the
// elected checker (Membership::isChecker) `poll()` fetches as before and offers the head to
// membership, which publishes it in etcd. On every other member `poll()` fetches only when the
// published head differs from the last head this node fetched; otherwise it answers that head
// without touching the network. While the node has no cluster, or nothing is published yet, it
// fetches as a standalone node does. So a hundred nodes cost the git host what one does.
#pragma once

#include <atomic>
#include <string>

#include "cluster/membership.h"
#include "gitops/spec_source.h"

namespace shoal {

class SharedHeadSource : public SpecSource {
 public:
  SharedHeadSource(SpecSource& inner, Membership& membership) : inner_(inner), membership_(membership) {}

  Result<std::string> poll() override;
  Result<SpecTreePtr> open(const std::string& commit) override { return inner_.open(commit); }
  Status writeNote(const std::string& commit, const std::string& text) override {
    return inner_.writeNote(commit, text);
  }

  int64_t fetches() const { return fetches_.load(); }  // polls that reached the git host

 private:
  SpecSource& inner_;
  Membership& membership_;
  std::string local_head_;  // the head of the last fetch (poll runs on one thread)
  std::atomic<int64_t> fetches_{0};
};

}  // namespace shoal
