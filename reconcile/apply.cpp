#include "reconcile/apply.h"

#include <set>

#include "common/log.h"

namespace shoal {

namespace {

// The event recorded when a container step succeeds.
const char* doneEventKind(StepKind kind) {
  switch (kind) {
    case StepKind::kCreate: return "container.created";
    case StepKind::kStart: return "container.started";
    case StepKind::kRemove: return "container.removed";
    case StepKind::kPause: return "container.paused";
    case StepKind::kUnpause: return "container.unpaused";
    case StepKind::kStop: return "container.stopped";
    case StepKind::kMarkFailed:
    case StepKind::kMarkGood: break;
  }
  return "container.changed";
}

}  // namespace

Applier::Applier(ContainerRuntime& runtime, StateStore& store, const Clock& clock, EventSink events,
                 ApplyOptions options)
    : runtime_(runtime), store_(store), clock_(clock), events_(std::move(events)), options_(options) {}

int Applier::closeInterrupted() {
  auto open = store_.journalOpen();
  if (!open) {
    logger("reconcile")->error("cannot read the journal: {}", open.error().str());
    return 0;
  }
  for (const JournalEntry& e : *open) {
    (void)store_.journalFinish(e.id, false, "interrupted: the node stopped before this step finished", clock_.now());
    events_("warn", "journal.interrupted", e.app,
            "step `" + e.op + " " + e.container + "` was interrupted by a restart; resuming from what Docker shows");
  }
  return static_cast<int>(open->size());
}

ApplyResult Applier::apply(const Plan& plan, const Desired& desired) {
  ApplyResult result;
  // The plan budgets an app's creations on its removals succeeding (at most replicas + max_surge
  // containers): once a removal of an app fails, its creations wait for the next tick's plan.
  std::set<std::string> removal_failed;
  for (const Step& step : plan.steps) {
    if (options_.stop.stop_requested()) break;
    if (step.kind == StepKind::kCreate && removal_failed.count(step.app)) continue;
    Status st;
    if (step.kind == StepKind::kMarkFailed) {
      st = markFailed(step, desired);
    } else if (step.kind == StepKind::kMarkGood) {
      st = markGood(step, desired);
    } else {
      // A create names its container; other steps carry an id, shown short.
      std::string shown = step.kind == StepKind::kCreate ? step.container : step.container.substr(0, 12);
      auto id = store_.journalBegin(
          JournalEntry{0, stepKindName(step.kind), step.app, shown, step.reason, "intent", clock_.now(), {}});
      if (!id) {
        // Without a journal entry we would act without a record: don't act (e.g. disk full).
        st = std::unexpected(id.error());
      } else {
        st = run(step);
        (void)store_.journalFinish(*id, st.has_value(), st ? "" : st.error().message, clock_.now());
      }
      if (st) events_("info", doneEventKind(step.kind), step.app, shown + " (" + step.reason + ")");
    }
    if (st) {
      ++result.done;
      continue;
    }
    ++result.failed;
    if (step.kind == StepKind::kRemove) removal_failed.insert(step.app);
    std::string line = std::string(stepKindName(step.kind)) + " " + step.app + " " + step.container + ": " +
                       st.error().message;
    result.errors.push_back(line);
    events_("error", "step.failed", step.app, line);
  }
  return result;
}

Status Applier::run(const Step& step) {
  switch (step.kind) {
    case StepKind::kCreate: {
      ContainerConfig config = step.config;
      config.name = step.container;
      auto id = runtime_.create(config);
      std::string container_id;
      if (id) {
        container_id = *id;
      } else if (id.error().code == ErrorCode::kConflict) {
        // Made by an earlier attempt that crashed before recording it: adopt it.
        auto info = runtime_.inspect(step.container);
        if (!info) return std::unexpected(info.error());
        container_id = info->id;
      } else {
        return std::unexpected(id.error());
      }
      return runtime_.start(container_id);
    }
    case StepKind::kStart: return runtime_.start(step.container);
    case StepKind::kRemove: {
      auto stopped = runtime_.stop(step.container, options_.stop_grace);
      if (!stopped && stopped.error().code != ErrorCode::kNotFound) return stopped;
      auto removed = runtime_.remove(step.container, true);
      if (!removed && removed.error().code != ErrorCode::kNotFound) return removed;
      return ok();
    }
    case StepKind::kPause: return runtime_.pause(step.container);
    case StepKind::kUnpause: return runtime_.unpause(step.container);
    case StepKind::kStop: {
      auto info = runtime_.inspect(step.container);
      if (info && info->state == ContainerState::kPaused) (void)runtime_.unpause(step.container);
      return runtime_.stop(step.container, options_.stop_grace);
    }
    case StepKind::kMarkFailed:
    case StepKind::kMarkGood: break;
  }
  return fail(ErrorCode::kInternal, "step kind not handled by run()");
}

namespace {
const DesiredApp* findApp(const Desired& desired, const std::string& name) {
  for (const DesiredApp& a : desired.apps)
    if (a.name == name) return &a;
  return nullptr;
}
}  // namespace

Status Applier::markFailed(const Step& step, const Desired& desired) {
  auto apps = store_.apps();
  if (!apps) return std::unexpected(apps.error());
  AppRecord rec = (*apps)[step.app];
  rec.name = step.app;
  const DesiredApp* app = findApp(desired, step.app);
  rec.failed_hash = step.hash;
  rec.failed_commit = app ? app->commit : "";
  rec.failed_reason = step.reason;
  auto st = store_.putApp(rec);
  if (st) {
    events_("error", "app.rolled_back", step.app,
            "version " + step.hash.substr(0, 8) + " from commit " + rec.failed_commit.substr(0, 12) + " failed: " +
                step.reason + "; rolling back to " + rec.good_hash.substr(0, 8) + " (commit " +
                rec.good_commit.substr(0, 12) + ")");
  }
  return st;
}

Status Applier::markGood(const Step& step, const Desired& desired) {
  const DesiredApp* app = findApp(desired, step.app);
  if (!app) return fail(ErrorCode::kInternal, "mark-good for an app that is not desired: " + step.app);
  auto apps = store_.apps();
  if (!apps) return std::unexpected(apps.error());
  AppRecord rec = (*apps)[step.app];
  rec.name = step.app;
  rec.good_hash = app->hash;
  rec.good_config = desiredAppToJson(*app);
  rec.good_commit = app->commit;
  auto st = store_.putApp(rec);
  if (st) events_("info", "app.healthy", step.app, "version " + app->hash.substr(0, 8) + " healthy (" +
                                                       std::to_string(app->replicas) + " replicas)");
  return st;
}

}  // namespace shoal
