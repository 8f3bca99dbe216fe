#include "cluster/shared_head_source.h"

namespace shoal {

Result<std::string> SharedHeadSource::poll() {
  bool checker = membership_.isChecker();
  if (!checker && membership_.settled()) {
    std::string published = membership_.publishedHead();
    if (!published.empty() && published == local_head_) return local_head_;
  }
  ++fetches_;
  auto head = inner_.poll();
  if (!head) return head;
  local_head_ = *head;
  if (checker) membership_.offerHead(*head);
  return head;
}

}  // namespace shoal
