// prepare / promote / demote / rejoin / on_role_change of ConfigRsyncPlugin.
#include <sstream>

#include "config_rsync_plugin.h"
#include "primary_report.h"
#include "tree_checksum.h"

namespace tandem::config_rsync {
namespace {

std::string first_changes(const TransferStats& st, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < st.changes.size() && i < n; ++i) out += (i ? ", " : "") + st.changes[i].substr(12);
  if (st.changes_total > n) out += ", ...";
  return out;
}

}  // namespace

sdk::Result<sdk::PrepareReport> ConfigRsyncPlugin::prepare(const sdk::FailoverRequest& request) {
  sdk::PrepareReport r;
  if (mode() == Mode::serving) {
    r.loss_summary = "nothing (this node already serves as primary)";
    r.plan = "nothing to do";
    return r;
  }
  std::string local = refresh_local_checksum();
  std::string primary;
  std::optional<double> primary_age, good_age, changed_age;
  std::optional<std::chrono::system_clock::time_point> changed_at;
  {
    std::lock_guard l(mu_);
    primary = state_.peer_checksum;
    auto now = std::chrono::system_clock::now();
    if (state_.peer_checksum_at) primary_age = std::chrono::duration<double>(now - *state_.peer_checksum_at).count();
    changed_at = state_.peer_changed_at;
    if (changed_at) changed_age = std::chrono::duration<double>(now - *changed_at).count();
    if (state_.last_good) good_age = std::chrono::duration<double>(now - *state_.last_good).count();
  }
  // Ask the primary itself what a pull would change, if it still answers
  // within the host's probe bound: a promote must not wait long on a dead host.
  PullOutcome dry = run_rsync_for_all(settings_, peer_address(), RsyncRun::dry_run, request.peer_timeout);

  nlohmann::json loss{{"local_checksum", local.empty() ? "unknown" : local},
                      {"primary_checksum", primary.empty() ? "unknown" : primary}};
  if (primary_age) loss["primary_checksum_age_seconds"] = static_cast<long long>(*primary_age);
  if (changed_at) {
    loss["primary_changed_at_ms"] = unix_ms(*changed_at);
    loss["primary_changed_age_seconds"] = static_cast<long long>(*changed_age);
  }
  if (good_age) loss["last_good_sync_age_seconds"] = static_cast<long long>(*good_age);
  bool differs;
  if (dry.ok) {
    differs = dry.stats.changes_total > 0;
    loss["differing_entries"] = dry.stats.changes;
    loss["differing_count"] = dry.stats.changes_total;
    r.loss_summary = differs ? "config differs: " + std::to_string(dry.stats.changes_total) +
                                   " entr(ies) not yet pulled from the primary (" + first_changes(dry.stats, 5) + ")"
                             : "nothing: config identical to the primary's (checksum " + local.substr(0, 12) + ")";
  } else {
    loss["primary_unreachable"] = dry.error;
    differs = primary.empty() || primary != local;
    std::ostringstream os;
    if (primary.empty())
      os << "config may differ: the primary's checksum is unknown";
    else if (differs)
      os << "config differs: local checksum " << local.substr(0, 12) << " != primary's " << primary.substr(0, 12);
    else
      os << "nothing known: local checksum equals the primary's last reported one";
    if (primary_age) os << " (reported " << static_cast<long long>(*primary_age) << "s ago)";
    if (!primary.empty()) {
      // What the primary said bounds what is known: up to its last report.
      if (changed_age)
        os << "; its tree last changed " << static_cast<long long>(*changed_age) << "s ago, by its last report";
      else
        os << "; it reported no change of its tree since it began serving";
      os << "; a change it made after that report is unknown";
    }
    os << "; primary not reachable for a final comparison: " << dry.error;
    r.loss_summary = os.str();
  }
  loss["config_differs"] = differs;
  r.loss = loss;
  r.plan = "stop pulling from " + settings_.remote_for(peer_address()) + "\nwatch " +
           std::to_string(settings_.paths.size()) + " path(s) and report changes to the peer" +
           (settings_.serve_port > 0
                ? "\nserve them with the built-in rsync daemon on port " + std::to_string(settings_.serve_port)
                : std::string());
  return r;
}

sdk::Result<sdk::StepReport> ConfigRsyncPlugin::promote(const sdk::FailoverRequest& request) {
  if (mode() == Mode::serving)
    return sdk::StepReport{false, "already primary: serving and watching", nlohmann::json::object()};
  nlohmann::json details = nlohmann::json::object();
  std::string note;
  // Switchover: the demoted primary handed over its final checksum and keeps
  // its daemon up read-only; take a last pull if we are not there yet.
  if (request.handoff.contains("checksum") && request.handoff["checksum"].is_string() && mode() == Mode::pulling) {
    std::string wanted = request.handoff["checksum"].get<std::string>();
    if (refresh_local_checksum() != wanted) {
      auto pulled = pull_once();
      std::string now = refresh_local_checksum();
      details["final_pull"] = pulled ? pulled->summary : pulled.message();
      note = now == wanted ? "; final pull brought config up to the old primary's"
                           : "; WARNING: config differs from the old primary's final checksum (" +
                                 (pulled ? std::string("after a final pull") : pulled.message()) + ")";
    }
  }
  auto st = enter_serving();  // also publishes the checksum to the peer
  std::string local;
  {
    std::lock_guard l(mu_);
    local = state_.local_checksum;
  }
  details["checksum"] = local;
  std::string summary = "stopped pulling; watching " + std::to_string(settings_.paths.size()) + " path(s)" +
                        (settings_.serve_port > 0 ? (st ? ", serving on port " + std::to_string(settings_.serve_port)
                                                        : ", built-in daemon FAILED: " + st.message())
                                                  : std::string()) +
                        note;
  return sdk::StepReport{true, summary, details};
}

sdk::Result<sdk::StepReport> ConfigRsyncPlugin::demote(const sdk::FailoverRequest& request) {
  (void)request;
  std::string local = refresh_local_checksum();
  nlohmann::json details{{"checksum", local}};
  Mode m = mode();
  if (m != Mode::serving)
    return sdk::StepReport{false, std::string("not serving (") + mode_name(m) + "): nothing to demote", details};
  // Keep the daemon (read-only) so the new primary's promote can pull once more.
  enter_idle("demoted; waiting for rejoin", true);
  return sdk::StepReport{true,
                         "stopped watching; final checksum " + local.substr(0, 12) +
                             (settings_.serve_port > 0 ? "; built-in daemon stays up read-only until rejoin" : ""),
                         details};
}

sdk::Result<sdk::StepReport> ConfigRsyncPlugin::rejoin(const sdk::FailoverRequest& request) {
  (void)request;
  bool changed = mode() != Mode::pulling;
  if (changed) enter_pulling();
  auto pulled = pull_once();  // pull from the new primary right away
  if (!pulled)
    return sdk::Result<sdk::StepReport>::failure(
        "rejoined as secondary, but the first pull from the new primary failed: " + pulled.message() +
        " (it is retried every interval)");
  return sdk::StepReport{
      changed, std::string(changed ? "now pulling from the new primary; " : "already pulling; ") + pulled->summary,
      pulled->details};
}

void ConfigRsyncPlugin::on_role_change(sdk::Role role, std::uint64_t epoch) {
  (void)epoch;
  Mode m = mode();
  if (m == Mode::stopped) return;
  if (role == sdk::Role::secondary && m != Mode::pulling) {
    enter_pulling();
  } else if (role == sdk::Role::primary && m != Mode::serving) {
    if (host_->fenced()) {
      enter_idle("fenced: the peer has a higher epoch; run rejoin", false);
      return;
    }
    auto st = enter_serving();
    if (!st) host_->log().error("after becoming primary: " + st.message());
  }
}

}  // namespace tandem::config_rsync
