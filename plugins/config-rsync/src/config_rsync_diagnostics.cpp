// `tandemctl diag <store> dry-run | connectivity | checksum`: they need only
// configure() (the daemon may be down), and change nothing.
#include <sstream>

#include "config_rsync_plugin.h"
#include "tandem/sdk/process.h"
#include "tree_checksum.h"

namespace tandem::config_rsync {

std::vector<sdk::Diagnostic> ConfigRsyncPlugin::diagnostics() {
  return {{"dry-run", "What a pull from the peer would change on this node (rsync --dry-run); changes nothing",
           [this](const auto&) { return diagnose_dry_run(); }},
          {"connectivity", "Checks the rsync binary, then lists each path on the peer through the configured transport",
           [this](const auto&) { return diagnose_connectivity(); }},
          {"checksum", "This node's checksum of the synced trees, next to the peer's last reported one",
           [this](const auto&) { return diagnose_checksum(); }}};
}

sdk::Result<sdk::DiagnosticResult> ConfigRsyncPlugin::diagnose_dry_run() {
  PullOutcome out = run_rsync_for_all(settings_, peer_address(), RsyncRun::dry_run);
  sdk::DiagnosticResult r;
  r.passed = out.ok;
  std::ostringstream os;
  os << "dry run of a pull from " << settings_.remote_for(peer_address()) << " (nothing was changed)\n";
  nlohmann::json per_path = nlohmann::json::array();
  for (auto& e : out.entries) {
    if (!e.ok) {
      os << e.name << ": FAILED " << e.error << "\n";
    } else if (e.stats.changes_total == 0) {
      os << e.name << ": up to date\n";
    } else {
      os << e.name << ": " << e.stats.changes_total << " change(s)\n";
      for (auto& c : e.stats.changes) os << "  " << c << "\n";
      if (e.stats.changes_total > e.stats.changes.size())
        os << "  ... and " << e.stats.changes_total - e.stats.changes.size() << " more\n";
    }
    per_path.push_back({{"name", e.name},
                        {"ok", e.ok},
                        {"error", e.error},
                        {"changes", e.stats.changes},
                        {"changes_total", e.stats.changes_total},
                        {"bytes", e.stats.bytes_transferred}});
  }
  r.output = os.str();
  r.details = {{"paths", per_path}, {"changes_total", out.stats.changes_total}};
  return r;
}

sdk::Result<sdk::DiagnosticResult> ConfigRsyncPlugin::diagnose_connectivity() {
  sdk::DiagnosticResult r;
  std::ostringstream os;
  sdk::ProcessSpec version;
  version.argv = {settings_.rsync_path, "--version"};
  version.timeout = std::chrono::seconds(10);
  auto v = sdk::run_process(version);
  if (!v || !v->succeeded()) {
    r.passed = false;
    r.output = "rsync binary '" + settings_.rsync_path + "' does not run: " + (v ? v->describe() : v.message()) +
               "\nInstall rsync or set rsync_path.";
    return r;
  }
  os << "rsync: " << v->stdout_text.substr(0, v->stdout_text.find('\n')) << "\n";
  os << "transport: " << (settings_.transport == Transport::daemon ? "rsync daemon " : "ssh ")
     << settings_.remote_for(peer_address()) << (settings_.rsh.empty() ? "" : " via rsh '" + settings_.rsh + "'")
     << "\n";
  PullOutcome out = run_rsync_for_all(settings_, peer_address(), RsyncRun::list);
  nlohmann::json per_path = nlohmann::json::array();
  for (std::size_t i = 0; i < out.entries.size(); ++i) {
    auto& e = out.entries[i];
    std::string src = settings_.source_for(settings_.paths[i], peer_address());
    if (e.ok) {
      std::size_t lines = 0;
      for (char c : e.stdout_text) lines += c == '\n';
      os << e.name << ": ok, listed " << src << " (" << lines << " entr(ies))\n";
    } else {
      os << e.name << ": FAILED to list " << src << ": " << e.error << "\n";
    }
    per_path.push_back({{"name", e.name}, {"source", src}, {"ok", e.ok}, {"error", e.error}});
  }
  r.passed = out.ok;
  r.output = os.str();
  r.details = {{"paths", per_path}};
  return r;
}

sdk::Result<sdk::DiagnosticResult> ConfigRsyncPlugin::diagnose_checksum() {
  TreeChecksum sum = compute_tree_checksum(settings_);
  std::string peer;
  {
    std::lock_guard l(mu_);
    peer = state_.peer_checksum;
  }
  sdk::DiagnosticResult r;
  r.passed = true;
  r.output = "local checksum: " + sum.sha256 + " (" + std::to_string(sum.entries) + " entries, " +
             std::to_string(sum.bytes) + " bytes)\npeer checksum:  " + (peer.empty() ? "unknown" : peer) + "\n";
  r.details = {{"local_checksum", sum.sha256}, {"peer_checksum", peer}, {"entries", sum.entries}, {"bytes", sum.bytes}};
  return r;
}

}  // namespace tandem::config_rsync
