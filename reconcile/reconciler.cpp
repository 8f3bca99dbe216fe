#include "reconcile/reconciler.h"

#include <algorithm>
#include <chrono>

#include "common/duration.h"
#include "common/log.h"
#include "reconcile/desired.h"
#include "reconcile/plan.h"
#include "schemas/load_spec.h"

namespace shoal {

Reconciler::Reconciler(SpecSource& source, ContainerRuntime& runtime, ImageBuilder& builder, StateStore& store,
                       ClusterView& cluster, const Clock& clock, ReconcilerOptions options)
    : source_(source),
      runtime_(runtime),
      builder_(builder),
      store_(store),
      cluster_(cluster),
      clock_(clock),
      options_(std::move(options)),
      applier_(runtime, store, clock,
               [this](const std::string& level, const std::string& kind, const std::string& app,
                      const std::string& message) { event(level, kind, app, message); },
               ApplyOptions{options_.stop_grace}) {
  report_.node_id = cluster_.nodeId();
  report_.node_name = options_.node_name;
  report_.repo = options_.repo;
  report_.branch = options_.branch;
  report_.started = clock_.now();
}

void Reconciler::event(const std::string& level, const std::string& kind, const std::string& app,
                       const std::string& message) {
  auto log = logger("reconcile");
  std::string line = app.empty() ? kind + ": " + message : kind + " " + app + ": " + message;
  if (level == "error") log->error("{}", line);
  else if (level == "warn") log->warn("{}", line);
  else log->info("{}", line);
  Event e{0, clock_.now(), level, kind, app, applied_commit_, message};
  auto st = store_.appendEvent(e);
  if (!st) log->error("event not recorded ({}): {}", st.error().str(), line);
}

Status Reconciler::start() {
  int interrupted = applier_.closeInterrupted();
  if (interrupted > 0) logger("reconcile")->warn("{} journalled step(s) were interrupted by the last stop", interrupted);
  auto refused = store_.getMeta("refused_commit");
  auto refused_errors = store_.getMeta("refused_errors");
  if (refused && *refused && refused_errors && *refused_errors) {
    std::lock_guard lock(mu_);
    report_.refused_commit = **refused;
    std::string all = **refused_errors;
    for (size_t pos = 0; pos < all.size();) {
      size_t nl = all.find('\n', pos);
      if (nl == std::string::npos) nl = all.size();
      if (nl > pos) report_.refused_errors.push_back(all.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  auto applied = store_.getMeta("applied_commit");
  if (!applied) return std::unexpected(applied.error());
  if (*applied) {
    std::string error;
    Diagnostics diags;
    if (loadSpecAt(**applied, &diags, &error)) {
      logger("reconcile")->info("resuming with commit {} (the last applied)", applied_commit_.substr(0, 12));
    } else {
      // The mirror lost it (data dir partly wiped): the first poll fetches and evaluates again.
      logger("reconcile")->warn("cannot reload the last applied commit {}: {}", (*applied)->substr(0, 12), error);
    }
  }
  return ok();
}

bool Reconciler::loadSpecAt(const std::string& commit, Diagnostics* refused, std::string* error) {
  auto tree = source_.open(commit);
  if (!tree) {
    *error = tree.error().message;
    return false;
  }
  SpecFiles files;
  const SpecTree& t = **tree;
  if (auto cluster = t.readFile("cluster.yaml")) files.files["cluster.yaml"] = *cluster;
  for (const std::string& name : t.listFiles("apps")) {
    bool yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    if (!yaml) continue;
    if (auto text = t.readFile("apps/" + name)) files.files["apps/" + name] = *text;
  }
  files.has_dir = [&t](const std::string& d) { return t.isDir(d); };
  files.has_file = [&t](const std::string& f) { return t.isFile(f); };
  auto spec = loadSpec(files);
  if (!spec) {
    *refused = spec.error();
    return false;
  }
  spec_ = std::move(*spec);
  tree_ = std::move(*tree);
  applied_commit_ = commit;
  images_.clear();
  build_errors_.clear();
  images_resolved_ = false;
  return true;
}

void Reconciler::poll(TimePoint now) {
  auto head = source_.poll();
  {
    std::lock_guard lock(mu_);
    report_.last_poll = now;
    ++report_.polls;
  }
  if (!head) {
    ++poll_failures_;
    // Back off on a failing remote (up to a minute); the last good commit keeps running.
    int64_t backoff = std::min<int64_t>(options_.poll_interval.count() << std::min(poll_failures_, 6), 60000);
    next_poll_ = now + Duration(backoff);
    std::string msg = head.error().message;
    bool changed;
    {
      std::lock_guard lock(mu_);
      changed = report_.source_error != msg;
      report_.source_error = msg;
      ++report_.poll_errors;
    }
    if (changed) event("error", "spec.unreachable", "", msg + "; keeping commit " + applied_commit_.substr(0, 12));
    return;
  }
  next_poll_ = now + options_.poll_interval;
  if (poll_failures_ > 0) event("info", "spec.reachable", "", "spec repo answers again");
  poll_failures_ = 0;
  {
    std::lock_guard lock(mu_);
    report_.source_error.clear();
    report_.head = *head;
  }
  if (*head != applied_commit_) evaluate(*head);
}

void Reconciler::evaluate(const std::string& commit) {
  // Each commit is evaluated once: a refused head is not re-read on every poll (nor after restart).
  {
    std::lock_guard lock(mu_);
    if (report_.refused_commit == commit) return;
  }
  auto known = store_.commitOutcome(commit);
  if (known && *known && (*known)->outcome == "refused") {
    std::lock_guard lock(mu_);
    if (report_.refused_commit == commit) return;
  }
  Diagnostics diags;
  std::string error;
  std::string previous = applied_commit_;
  if (loadSpecAt(commit, &diags, &error)) {
    (void)store_.setMeta("applied_commit", commit);
    (void)store_.setMeta("refused_commit", "");
    (void)store_.setMeta("refused_errors", "");
    {
      std::lock_guard lock(mu_);
      report_.applied_commit = commit;
      report_.refused_commit.clear();
      report_.refused_errors.clear();
    }
    event("info", "commit.applied", "", "commit " + commit.substr(0, 12) + " accepted (" +
                                            std::to_string(spec_->apps.size()) + " apps)");
    last_outcome_.clear();
    note_.clear();
    recordOutcome("accepted", std::to_string(spec_->apps.size()) + " apps");
    return;
  }
  std::vector<std::string> lines;
  if (!error.empty()) lines.push_back(error);
  for (const Diagnostic& d : diags) lines.push_back(d.str());
  std::string joined;
  for (const std::string& l : lines) joined += l + "\n";
  (void)store_.setMeta("refused_commit", commit);
  (void)store_.setMeta("refused_errors", joined);
  (void)store_.setCommitOutcome(commit, CommitOutcome{"refused", joined, clock_.now()});
  {
    std::lock_guard lock(mu_);
    report_.refused_commit = commit;
    report_.refused_errors = lines;
    ++report_.commits_refused;
  }
  event("error", "commit.refused", "", "commit " + commit.substr(0, 12) + " refused, " +
                                           std::to_string(lines.size()) + " error(s); still running " +
                                           (previous.empty() ? std::string("nothing") : previous.substr(0, 12)) +
                                           ":\n" + joined);
  if (options_.write_notes) {
    auto st = source_.writeNote(commit, "shoal: refused by node " + cluster_.nodeId().substr(0, 12) + " at " +
                                            formatTime(clock_.now()) + "\n" + joined);
    if (!st) logger("gitops")->warn("note for {} not written: {}", commit.substr(0, 12), st.error().message);
  }
}

void Reconciler::resolveImages() {
  if (images_resolved_ || !spec_) return;
  images_resolved_ = true;
  int built_before = builder_.buildsStarted();
  for (const AppSpec& app : spec_->apps) {
    auto image = builder_.imageFor(app, *tree_);
    if (image) {
      images_[app.name] = *image;
      continue;
    }
    if (image.error().retryable) images_resolved_ = false;  // Docker down: try again next tick
    build_errors_[app.name] = image.error().message;
    event("error", app.build ? "build.failed" : "image.missing", app.name,
          image.error().message + "; the app keeps its last good version");
  }
  if (builder_.buildsStarted() > built_before && build_errors_.empty()) recordOutcome("built", "");
  if (!build_errors_.empty()) {
    std::string detail;
    for (const auto& [app, err] : build_errors_) detail += app + ": " + err + "\n";
    recordOutcome("build_failed", detail);
  }
}

Desired Reconciler::desired() {
  Desired d;
  d.cluster = spec_->cluster.name;
  d.node_id = cluster_.nodeId();
  d.activation = activationFor(spec_->cluster, cluster_.size());
  std::map<std::string, AppRecord> records;
  if (auto r = store_.apps()) records = std::move(*r);
  for (const AppSpec* app : dependencyOrder(spec_->apps)) {
    const AppRecord& rec = records[app->name];
    std::optional<DesiredApp> good;
    if (!rec.good_config.empty()) {
      if (auto g = desiredAppFromJson(rec.good_config)) {
        good = std::move(*g);
        good->rolled_back = true;
        good->good_hash = rec.good_hash;
        good->failed_hash = rec.failed_hash;
      }
    }
    auto image = images_.find(app->name);
    if (image == images_.end()) {
      if (good) d.apps.push_back(*good);
      else d.held.push_back(app->name);
      continue;
    }
    DesiredApp want;
    want.name = app->name;
    want.config = containerConfigFor(*app, image->second, d.cluster, d.node_id, applied_commit_);
    want.hash = want.config.labels[kLabelSpec];
    want.replicas = app->replicas;
    want.update = app->update;
    want.depends_on = app->depends_on;
    want.has_health = app->health.has_value();
    if (app->health) {
      want.health_deadline = app->health->deadline;
      want.health_description = app->health->description;
    }
    want.commit = applied_commit_;
    want.good_hash = rec.good_hash;
    want.failed_hash = rec.failed_hash;
    // A version that already failed is not tried again; its last good version stands in.
    if (want.hash == rec.failed_hash && good) d.apps.push_back(*good);
    else d.apps.push_back(std::move(want));
  }
  return d;
}

void Reconciler::recordOutcome(const std::string& outcome, const std::string& detail) {
  if (outcome == last_outcome_ || applied_commit_.empty()) return;
  last_outcome_ = outcome;
  note_ += formatTime(clock_.now()) + " " + outcome + (detail.empty() ? "" : ": " + detail) + "\n";
  (void)store_.setCommitOutcome(applied_commit_, CommitOutcome{outcome, detail, clock_.now()});
  if (!options_.write_notes) return;
  std::string text = "shoal: " + outcome + " (node " + options_.node_name + ", " + cluster_.nodeId().substr(0, 12) +
                     ")\n\n" + note_;
  auto st = source_.writeNote(applied_commit_, text);
  if (!st) logger("gitops")->warn("note for {} not written: {}", applied_commit_.substr(0, 12), st.error().message);
}

TimePoint Reconciler::tick() {
  TimePoint now = clock_.now();
  woken_ = false;
  // The event log and the journal would grow forever: keep the newest, every 1000 ticks.
  if (++ticks_since_trim_ >= 1000) {
    ticks_since_trim_ = 0;
    (void)store_.eventsTrim(options_.keep_events);
    (void)store_.journalTrim(options_.keep_journal);
  }
  if (now >= next_poll_) poll(now);
  if (!spec_) {
    std::lock_guard lock(mu_);
    ++report_.ticks;
    report_.last_tick = now;
    return next_poll_;
  }
  resolveImages();
  Desired want = desired();
  auto observed = runtime_.list({{kLabelCluster, want.cluster}, {kLabelNode, want.node_id}});
  if (!observed) {
    event("error", "runtime.unavailable", "", observed.error().message);
    return std::min(next_poll_, now + options_.rollout_check * 4);
  }
  auto t0 = std::chrono::steady_clock::now();
  Plan plan = diff(want, *observed, now);
  double plan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ApplyResult applied = applier_.apply(plan, want);
  bool rolled_back = false;
  for (const Step& s : plan.steps) rolled_back |= s.kind == StepKind::kMarkFailed;
  if (rolled_back) recordOutcome("rolled_back", plan.apps.empty() ? "" : "see events");
  else if (!plan.steps.empty() && last_outcome_ != "rolled_back" && last_outcome_ != "build_failed") recordOutcome("deployed", "");
  if (plan.converged() && last_outcome_ != "rolled_back" && last_outcome_ != "build_failed") recordOutcome("healthy", "");
  {
    std::lock_guard lock(mu_);
    report_.steps_done += applied.done;
    report_.steps_failed += applied.failed;
    report_.last_errors = applied.errors;
    report_.last_plan_ms = plan_ms;
    if (rolled_back) ++report_.rollbacks;
  }
  // Show what Docker shows after the steps, not before.
  if (!plan.steps.empty()) {
    if (auto after = runtime_.list({{kLabelCluster, want.cluster}, {kLabelNode, want.node_id}})) observed = std::move(after);
    plan.apps = diff(want, *observed, clock_.now()).apps;
  }
  publish(want, plan, *observed);
  TimePoint next = std::min(next_poll_, now + options_.resync_interval);
  if (!plan.steps.empty() || !plan.converged()) next = std::min(next, now + options_.rollout_check);
  return next;
}

}  // namespace shoal
