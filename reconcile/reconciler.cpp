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
               ApplyOptions{options_.stop_grace, options_.stop}) {
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
    if (loadSpecAt(**applied, &diags, &error) == Load::kLoaded) {
      logger("reconcile")->info("resuming with commit {} (the last applied)", applied_commit_.substr(0, 12));
      // The commit's outcome and note so far: a rolled-back commit stays rolled back.
      if (auto known = store_.commitOutcome(applied_commit_); known && *known) {
        last_outcome_ = (*known)->outcome;
        note_ = (*known)->detail;
      }
    } else {
      // The mirror lost it (data dir partly wiped): each poll tries it again after fetching.
      applied_commit_ = **applied;
      logger("reconcile")->warn("cannot reload the last applied commit {}: {}", (*applied)->substr(0, 12), error);
    }
  }
  return ok();
}

Reconciler::Load Reconciler::loadSpecAt(const std::string& commit, Diagnostics* refused, std::string* error) {
  auto tree = source_.open(commit);
  if (!tree) {
    *error = tree.error().message;
    return Load::kUnreadable;
  }
  SpecFiles files;
  const SpecTree& t = **tree;
  // A file the tree lists but can't read is an I/O problem, not a missing file: reading on would
  // make a spec without it, and its app would be pruned.
  auto read = [&](const std::string& path) -> bool {
    auto text = t.readFile(path);
    if (text) files.files[path] = *text;
    else if (t.isFile(path)) *error = "cannot read " + path + " at commit " + commit.substr(0, 12);
    return text.has_value() || !t.isFile(path);
  };
  if (!read("cluster.yaml")) return Load::kUnreadable;
  for (const std::string& name : t.listFiles("apps")) {
    bool yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    if (yaml && !read("apps/" + name)) return Load::kUnreadable;
  }
  files.has_dir = [&t](const std::string& d) { return t.isDir(d); };
  files.has_file = [&t](const std::string& f) { return t.isFile(f); };
  auto spec = loadSpec(files);
  if (!spec) {
    *refused = spec.error();
    return Load::kRefused;
  }
  spec_ = std::move(*spec);
  {
    std::lock_guard lock(mu_);
    shared_spec_ = std::make_shared<const Spec>(*spec_);
  }
  tree_ = std::move(*tree);
  applied_commit_ = commit;
  images_.clear();
  build_errors_.clear();
  image_retry_.clear();
  return Load::kLoaded;
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
  if (options_.poll_jitter > Duration(0))
    next_poll_ += Duration(static_cast<int64_t>(jitter_() % static_cast<uint64_t>(options_.poll_jitter.count() + 1)));
  if (poll_failures_ > 0) event("info", "spec.reachable", "", "spec repo answers again");
  poll_failures_ = 0;
  {
    std::lock_guard lock(mu_);
    report_.source_error.clear();
    report_.head = *head;
  }
  if (!spec_ && !applied_commit_.empty()) {
    // The mirror lacked the applied commit at start-up; after this fetch it may have it again.
    std::string error;
    Diagnostics diags;
    if (loadSpecAt(applied_commit_, &diags, &error) == Load::kLoaded)
      logger("reconcile")->info("reloaded the applied commit {}", applied_commit_.substr(0, 12));
  }
  if (*head != applied_commit_) evaluate(*head);
}

void Reconciler::evaluate(const std::string& commit) {
  // Each commit is evaluated once: a refused head is not re-read on every poll (nor after restart).
  // `start` restores the refused commit from the store, so this holds across restarts too.
  {
    std::lock_guard lock(mu_);
    if (report_.refused_commit == commit) return;
  }
  Diagnostics diags;
  std::string error;
  std::string previous = applied_commit_;
  Load load = loadSpecAt(commit, &diags, &error);
  if (load == Load::kUnreadable) {
    event("error", "spec.unreadable", "", "commit " + commit.substr(0, 12) + " could not be read (" + error +
                                              "); trying again at the next poll");
    return;
  }
  if (load == Load::kLoaded) {
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
  if (!spec_) return;
  int built_before = builder_.buildsStarted();
  bool new_failure = false;
  for (const AppSpec& app : spec_->apps) {
    // Resolved, or failed for good at this commit (a build error): nothing to do until a new commit.
    if (images_.count(app.name) || build_errors_.count(app.name)) continue;
    auto image = builder_.imageFor(app, *tree_);
    if (image) {
      images_[app.name] = *image;
      image_retry_.erase(app.name);
      continue;
    }
    std::string msg = image.error().message;
    if (image.error().retryable) {
      // Docker slow or down: hold the app as it is and try again next tick.
      if (image_retry_[app.name] != msg) event("warn", "image.retry", app.name, msg + "; trying again");
      image_retry_[app.name] = msg;
      continue;
    }
    image_retry_.erase(app.name);
    build_errors_[app.name] = msg;
    new_failure = true;
    event("error", app.build ? "build.failed" : "image.missing", app.name,
          msg + "; the app keeps its last good version");
  }
  if (builder_.buildsStarted() > built_before && build_errors_.empty()) recordOutcome("built", "");
  if (new_failure) {
    std::string detail;
    for (const auto& [app, err] : build_errors_) detail += app + ": " + err + "\n";
    recordOutcome("build_failed", detail);
  }
}

// How many replicas of `app` this node runs: `every-node` apps run theirs on each member;
// `origin` apps run only on the cluster's origin (a standalone node is its own).
std::optional<int> Reconciler::replicasHere(const AppSpec& app) const {
  if (cluster_.placesApps()) return cluster_.placed(app.name);
  if (app.placement == Placement::kEveryNode) return app.replicas;
  return cluster_.isOrigin() ? app.replicas : 0;
}

std::shared_ptr<const Spec> Reconciler::appliedSpec() const {
  std::lock_guard lock(mu_);
  return shared_spec_;
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
    const std::optional<int> here = replicasHere(*app);
    std::optional<DesiredApp> good;
    if (!rec.good_config.empty()) {
      if (auto g = desiredAppFromJson(rec.good_config)) {
        good = std::move(*g);
        good->rolled_back = true;
        good->good_hash = rec.good_hash;
        good->failed_hash = rec.failed_hash;
        // The last good *version*, at the scale and update policy the spec asks for now.
        good->replicas = here.value_or(good->replicas);
        good->placement = app->placement;
        good->update = app->update;
        good->depends_on = app->depends_on;
      }
    }
    auto image = images_.find(app->name);
    if (!here) {
      // Clustered, and the leader has not placed the app (yet), or this node lost the store:
      // leave it exactly as it is.
      d.held.push_back(app->name);
      d.held_reasons[app->name] = "not placed by the cluster's leader yet (or this node can't reach the store); "
                                  "containers left as they are";
      continue;
    }
    if (image == images_.end()) {
      // Unknown for now (Docker didn't answer): leave the app exactly as it is.
      if (image_retry_.count(app->name) || !good) d.held.push_back(app->name);
      else d.apps.push_back(*good);
      continue;
    }
    DesiredApp want;
    want.name = app->name;
    want.config = containerConfigFor(*app, image->second, d.cluster, d.node_id, applied_commit_);
    want.hash = want.config.labels[kLabelSpec];
    want.replicas = *here;
    want.placement = app->placement;
    want.update = app->update;
    want.depends_on = app->depends_on;
    want.has_health = app->health.has_value();
    if (app->health) {
      want.health_deadline = app->health->deadline;
      want.health_description = app->health->description;
    }
    want.commit = applied_commit_;
    want.good_hash = good ? rec.good_hash : "";  // nothing to roll back to without a usable record
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
  // The detail is the note's history, so a restarted node continues it instead of starting over.
  (void)store_.setCommitOutcome(applied_commit_, CommitOutcome{outcome, note_, clock_.now()});
  if (!options_.write_notes) return;
  std::string text = "shoal: " + outcome + " (node " + options_.node_name + ", " + cluster_.nodeId().substr(0, 12) +
                     ")\n\n" + note_;
  auto st = source_.writeNote(applied_commit_, text);
  if (!st) logger("gitops")->warn("note for {} not written: {}", applied_commit_.substr(0, 12), st.error().message);
}

Result<std::vector<ContainerInfo>> Reconciler::observe() {
  // By node only: containers of an earlier cluster name are this node's too, and get replaced.
  auto observed = runtime_.list({{kLabelNode, cluster_.nodeId()}});
  if (!observed) return observed;
  for (ContainerInfo& c : *observed) {
    // `list` lacks start times and exit codes; the plan needs them for containers still starting
    // (the health deadline) and for exited ones (a crash of a new version).
    bool starting = c.state == ContainerState::kRunning && c.health == Health::kStarting;
    bool down = c.state == ContainerState::kExited || c.state == ContainerState::kRestarting;
    if (!starting && !down) continue;
    if (auto full = runtime_.inspect(c.id)) {
      c.started = full->started;
      c.exit_code = full->exit_code;
    }
  }
  return observed;
}

void Reconciler::afterApply(const Plan& plan, const ApplyResult& result,
                            const std::vector<ContainerInfo>& observed) {
  // An image that vanished (`docker image prune`) is looked up (and rebuilt) again.
  if (result.failed > 0) {
    for (const Step& s : plan.steps) {
      if (s.kind == StepKind::kCreate) images_.erase(s.app);
    }
  }
  // Apps pruned to the last container are forgotten, so one added again later starts afresh.
  auto records = store_.apps();
  if (!records || !spec_) return;
  std::set<std::string> in_spec, present;
  for (const AppSpec& a : spec_->apps) in_spec.insert(a.name);
  for (const ContainerInfo& c : observed) {
    auto app = c.labels.find(kLabelApp);
    if (app != c.labels.end()) present.insert(app->second);
  }
  for (const auto& [name, rec] : *records) {
    if (!in_spec.count(name) && !present.count(name)) (void)store_.deleteApp(name);
  }
}

namespace {

std::set<std::string> appsIn(const std::vector<ContainerInfo>& observed) {
  std::set<std::string> apps;
  for (const ContainerInfo& c : observed) {
    auto app = c.labels.find(kLabelApp);
    if (app != c.labels.end()) apps.insert(app->second);
  }
  return apps;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

bool Reconciler::holdsRoleData(const std::string& app) {
  if (auto it = role_data_.find(app); it != role_data_.end()) return it->second;
  auto meta = store_.getMeta("role_data." + app);
  if (!meta) return false;  // unreadable: remove nothing now, ask again next tick
  return role_data_[app] = (*meta && **meta == "held");
}

void Reconciler::setHoldsRoleData(const std::string& app, bool holds) {
  if (holdsRoleData(app) == holds) return;
  auto st = store_.setMeta("role_data." + app, holds ? "held" : "");
  if (!st) logger("reconcile")->warn("role data of {} not recorded: {}", app, st.error().str());
  // Kept in memory even when the write failed: at worst a restart removes volumes already gone.
  role_data_[app] = holds;
}

void Reconciler::noteRoleData(const std::vector<ContainerInfo>& observed) {
  std::set<std::string> present = appsIn(observed);
  for (const AppSpec& app : spec_->apps) {
    if (app.role.empty() || app.volumes.empty()) continue;
    std::optional<int> here = replicasHere(app);
    if (present.count(app.name) || (here && *here > 0)) setHoldsRoleData(app.name, true);
  }
}

void Reconciler::releaseRoleData(const std::vector<ContainerInfo>& observed) {
  if (options_.stop.stop_requested()) return;  // a stopping node leaves the rest to its next start
  std::set<std::string> present = appsIn(observed);
  // Role-bound apps with nothing here now: placed elsewhere (share 0, not merely unknown) and no
  // container left, in any state.
  std::set<std::string> idle;
  for (const AppSpec& app : spec_->apps) {
    std::optional<int> here = replicasHere(app);
    if (!app.role.empty() && here == 0 && !present.count(app.name)) idle.insert(app.name);
  }
  for (const AppSpec& app : spec_->apps) {
    if (!idle.count(app.name) || app.volumes.empty() || !holdsRoleData(app.name)) continue;
    std::vector<std::string> removed, kept;
    std::string error;
    for (const VolumeSpec& v : app.volumes) {
      // A volume another app mounts too is that app's data as well: it goes only when every app
      // naming it is an idle role-bound one.
      std::string user;
      for (const AppSpec& other : spec_->apps) {
        bool names = std::any_of(other.volumes.begin(), other.volumes.end(),
                                 [&](const VolumeSpec& o) { return o.name == v.name; });
        if (names && !idle.count(other.name)) user = other.name;
      }
      if (!user.empty()) {
        kept.push_back(v.name + " (also used by " + user + ")");
        continue;
      }
      if (auto st = runtime_.removeVolume(v.name); !st) {
        error = st.error().message;
        break;
      }
      removed.push_back(v.name);
    }
    if (!error.empty()) {
      // Tried again next tick; reported when the reason changes, not at every tick.
      if (release_errors_[app.name] != error)
        event("warn", "role.release_failed", app.name,
              app.role + " released, but its data stays for now: " + error + "; trying again");
      release_errors_[app.name] = error;
      continue;
    }
    release_errors_.erase(app.name);
    setHoldsRoleData(app.name, false);
    std::string msg = app.role + " released: ";
    msg += removed.empty() ? "no volume removed" : "removed volumes " + joined(removed);
    if (!kept.empty()) msg += "; kept " + joined(kept);
    event("info", "role.released", app.name, msg);
  }
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
  // Until the node knows its cluster, the size and the origin mean nothing: touch nothing (the
  // containers of a restarted member keep running while it finds its cluster again).
  bool settled = cluster_.settled();
  if (!spec_ || !settled) {
    std::lock_guard lock(mu_);
    ++report_.ticks;
    report_.last_tick = now;
    report_.cluster_settled = settled;
    return settled ? next_poll_ : std::min(next_poll_, now + Duration(500));
  }
  resolveImages();
  Desired want = desired();
  auto observed = observe();
  if (!observed) {
    event("error", "runtime.unavailable", "", observed.error().message);
    return std::min(next_poll_, now + options_.rollout_check * 4);
  }
  auto t0 = std::chrono::steady_clock::now();
  Plan plan = diff(want, *observed, now);
  double plan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  noteRoleData(*observed);
  ApplyResult applied = applier_.apply(plan, want);
  afterApply(plan, applied, *observed);
  bool rolled_back = false;
  std::string why;
  for (const Step& s : plan.steps) {
    if (s.kind != StepKind::kMarkFailed) continue;
    rolled_back = true;
    why += s.app + ": " + s.reason + "; ";
  }
  // The commit's story: accepted -> (built) -> deployed -> healthy, or rolled_back / build_failed.
  // Repairs after it is healthy (drift) don't rewrite it.
  bool open = last_outcome_.empty() || last_outcome_ == "accepted" || last_outcome_ == "built";
  if (rolled_back) recordOutcome("rolled_back", why);
  else if (!plan.steps.empty() && open) recordOutcome("deployed", "");
  if (plan.converged() && (open || last_outcome_ == "deployed")) recordOutcome("healthy", "");
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
    if (auto after = observe()) observed = std::move(after);
    plan.apps = diff(want, *observed, clock_.now()).apps;
  }
  releaseRoleData(*observed);
  publish(want, plan, *observed);
  TimePoint next = std::min(next_poll_, now + options_.resync_interval);
  if (!plan.steps.empty() || !plan.converged()) next = std::min(next, now + options_.rollout_check);
  return next;
}

}  // namespace shoal
