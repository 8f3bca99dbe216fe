#include "node/status_json.h"

#include <nlohmann/json.hpp>

namespace shoal {

using json = nlohmann::json;

namespace {

json appJson(const AppReport& a) {
  json containers = json::array();
  for (const ContainerReport& c : a.containers) {
    json ports = json::array();
    for (const PublishedPort& p : c.ports) {
      ports.push_back({{"container", p.container_port}, {"protocol", p.protocol}, {"host_ip", p.host_ip},
                       {"host", p.host_port}});
    }
    containers.push_back({{"id", c.id}, {"name", c.name}, {"version", c.version}, {"state", c.state},
                          {"health", c.health}, {"ports", ports}});
  }
  json j = {{"name", a.name},       {"phase", a.phase},   {"version", a.version}, {"image", a.image},
            {"commit", a.commit},   {"replicas", {{"desired", a.desired}, {"ready", a.ready}, {"running", a.running}}},
            {"message", a.message}, {"containers", containers}};
  if (!a.health_check.empty()) j["health_check"] = a.health_check;
  if (!a.build_error.empty()) j["build_error"] = a.build_error;
  if (!a.failed_commit.empty()) {
    j["rollback"] = {{"rolled_back", a.rolled_back}, {"failed_commit", a.failed_commit}, {"reason", a.failed_reason}};
  }
  return j;
}

}  // namespace

namespace {

json memberJson(const MemberRecord& m) { return json::parse(memberToJson(m)); }

const char* phaseName(Phase p) { return p == Phase::kMember ? "member" : "discovering"; }

}  // namespace

std::string nodesJson(const MembershipStatus* m, const MemberRecord& self) {
  json out = json::array();
  if (!m) {
    out.push_back(memberJson(self));
  } else {
    for (const auto& rec : m->members) out.push_back(memberJson(rec));
  }
  return out.dump(2) + "\n";
}

std::string statusJson(const Report& r, const MembershipStatus* m) {
  json apps = json::array();
  for (const AppReport& a : r.apps) apps.push_back(appJson(a));
  json spec = {{"repo", r.repo},
               {"branch", r.branch},
               {"head", r.head},
               {"applied_commit", r.applied_commit},
               {"last_poll", r.last_poll == TimePoint{} ? "" : formatTime(r.last_poll)}};
  if (!r.refused_commit.empty()) spec["refused"] = {{"commit", r.refused_commit}, {"errors", r.refused_errors}};
  if (!r.source_error.empty()) spec["error"] = r.source_error;
  json j = {{"node", {{"id", r.node_id}, {"name", r.node_name}, {"started", formatTime(r.started)}}},
            {"spec", spec},
            {"cluster",
             {{"name", r.cluster},
              {"size", r.cluster_size},
              {"min_nodes", r.min_nodes},
              {"below_min", r.below_min},
              {"apps", r.activation}}},
            {"converged", r.converged},
            {"apps", apps}};
  if (!r.cluster_settled) j["cluster"]["apps"] = "waiting for the cluster";
  if (m) {
    json& c = j["cluster"];
    c["phase"] = phaseName(m->phase);
    c["hub"] = m->hub;
    c["spec_checker"] = m->checker;
    // What the leader decided (issue 8). `hubs` are the etcd members it made, voters or learners
    // still catching up; `store_endpoints` are the client URLs this node's store calls use.
    c["leader"] = m->leader;
    json hubs = json::array();
    for (const auto& [id, h] : m->hub_records)
      hubs.push_back({{"node", id}, {"state", h.voter ? "voter" : "learner"}});
    c["hubs"] = hubs;
    c["store_endpoints"] = m->hubs;
    c["roles"] = m->roles;
    json placement = json::object();
    for (const auto& [app, p] : m->placements)
      placement[app] = {{"nodes", p.nodes}, {"missing", p.missing}, {"reason", p.reason}};
    c["placement"] = placement;
    c["reason"] = m->reason;
    if (m->cluster) {
      c["id"] = m->cluster->id;
      c["origin"] = m->cluster->origin;
      c["created_at"] = formatTime(TimePoint(Duration(m->cluster->created_at)));
      c["size"] = m->phase == Phase::kMember ? static_cast<int>(m->members.size()) : 0;
    }
    json members = json::array();
    for (const auto& rec : m->members)
      members.push_back({{"id", rec.id}, {"name", rec.name}, {"hub", rec.hub}, {"address", rec.peer_address}});
    c["members"] = members;
  }
  if (!r.last_errors.empty()) j["errors"] = r.last_errors;
  return j.dump(2) + "\n";
}

std::string appsJson(const Report& r) {
  json apps = json::array();
  for (const AppReport& a : r.apps) apps.push_back(appJson(a));
  return apps.dump(2) + "\n";
}

std::string metricsText(const Report& r) {
  std::string out;
  auto counter = [&](const char* name, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(v) + "\n";
  };
  counter("shoal_ticks_total", "Reconcile passes.", r.ticks);
  counter("shoal_polls_total", "Polls of the spec repo.", r.polls);
  counter("shoal_poll_errors_total", "Polls that failed.", r.poll_errors);
  counter("shoal_builds_started_total", "Image builds started.", r.builds_started);
  counter("shoal_steps_applied_total", "Plan steps applied.", r.steps_done);
  counter("shoal_steps_failed_total", "Plan steps that failed.", r.steps_failed);
  counter("shoal_commits_refused_total", "Spec commits refused by validation.", r.commits_refused);
  counter("shoal_rollbacks_total", "App versions rolled back.", r.rollbacks);
  out += "# HELP shoal_converged 1 when every app is as the spec says.\n# TYPE shoal_converged gauge\n";
  out += "shoal_converged " + std::string(r.converged ? "1" : "0") + "\n";
  out += "# HELP shoal_last_plan_seconds Time the last diff took.\n# TYPE shoal_last_plan_seconds gauge\n";
  out += "shoal_last_plan_seconds " + std::to_string(r.last_plan_ms / 1000.0) + "\n";
  out += "# HELP shoal_app_replicas Replicas per app and kind.\n# TYPE shoal_app_replicas gauge\n";
  for (const AppReport& a : r.apps) {
    out += "shoal_app_replicas{app=\"" + a.name + "\",kind=\"desired\"} " + std::to_string(a.desired) + "\n";
    out += "shoal_app_replicas{app=\"" + a.name + "\",kind=\"ready\"} " + std::to_string(a.ready) + "\n";
    out += "shoal_app_replicas{app=\"" + a.name + "\",kind=\"running\"} " + std::to_string(a.running) + "\n";
  }
  return out;
}

std::string eventsJson(const std::vector<Event>& events) {
  json out = json::array();
  for (const Event& e : events) {
    out.push_back({{"seq", e.seq}, {"at", formatTime(e.at)}, {"level", e.level}, {"kind", e.kind}, {"app", e.app},
                   {"commit", e.commit}, {"message", e.message}});
  }
  return out.dump(2) + "\n";
}

}  // namespace shoal
