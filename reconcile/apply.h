// Applying a plan: each step is journalled in the state store before it touches Docker and closed
// after, so a node killed mid-apply finds the interrupted step at start-up. Recovery itself needs
// no replay: replica names are deterministic and `diff` is level-triggered, so the next tick after a
// restart finishes the work from what Docker shows, without duplicates.
#pragma once

#include <functional>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "reconcile/plan.h"
#include "reconcile/state_store.h"
#include "runtime/container_runtime.h"

namespace shoal {

struct ApplyOptions {
  Duration stop_grace{10000};
  // Requested when the node shuts down: the step in flight finishes, the rest wait for the next
  // start (they are recomputed from what Docker shows then).
  std::stop_token stop;
};

struct ApplyResult {
  int done = 0;
  int failed = 0;
  std::vector<std::string> errors;  // one line per failed step
};

// Records events (with the store's seq) and logs them; the reconciler provides it.
using EventSink = std::function<void(const std::string& level, const std::string& kind, const std::string& app,
                                     const std::string& message)>;

class Applier {
 public:
  Applier(ContainerRuntime& runtime, StateStore& store, const Clock& clock, EventSink events, ApplyOptions options);

  // Runs the steps in order. A failed step is journalled and reported and does not stop the
  // others (each app's steps are independent); `commit` labels the events.
  ApplyResult apply(const Plan& plan, const Desired& desired);

  // Journal entries left open by a crash: closed as "interrupted", each reported as an event.
  // Returns how many there were.
  int closeInterrupted();

 private:
  Status run(const Step& step);
  Status markFailed(const Step& step, const Desired& desired);
  Status markGood(const Step& step, const Desired& desired);

  ContainerRuntime& runtime_;
  StateStore& store_;
  const Clock& clock_;
  EventSink events_;
  ApplyOptions options_;
};

}  // namespace shoal
