// The peer's last journal report (kv_status events) kept in the store's
// state, so that a promote right after this tandemd restarted (a crash, an
// upgrade) can still say what the old primary had journaled, and when it
// last said so, instead of "unknown".
#include "kv_plugin.h"
#include "plugin_util.h"

namespace tandem::kv {
namespace {
constexpr const char* kStateKey = "peer_kv_status";
// An unchanged report is rewritten at most this often: its age stays honest
// within this bound without a state write per event.
constexpr std::int64_t kRefreshMs = 10000;
}  // namespace

void KvStorePlugin::load_peer_report() {
  auto text = host_->state().get(kStateKey);
  if (!text) return;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("journal_depth") || !j.contains("at_ms")) {
    host_->log().warn("ignoring an unreadable saved peer journal report in the store state");
    return;
  }
  std::lock_guard l(observed_mu_);
  if (observed_.peer_report_ms) return;  // a live report arrived first
  observed_.peer_journal_depth = j["journal_depth"].get<std::uint64_t>();
  if (j.contains("journal_oldest_ms")) observed_.peer_journal_oldest_ms = j["journal_oldest_ms"].get<std::int64_t>();
  if (j.contains("journal_bytes") && j["journal_bytes"].is_number_unsigned())
    observed_.peer_journal_bytes = j["journal_bytes"].get<std::uint64_t>();
  observed_.peer_report_ms = j["at_ms"].get<std::int64_t>();
  saved_report_ = {observed_.peer_journal_depth, observed_.peer_report_ms};
}

void KvStorePlugin::save_peer_report() {
  Observed o;
  {
    std::lock_guard l(observed_mu_);
    o = observed_;
  }
  if (!o.peer_report_ms || !o.peer_journal_depth) return;
  if (o.peer_journal_depth == saved_report_.depth && o.peer_report_ms - saved_report_.at_ms < kRefreshMs) return;
  nlohmann::json j = {{"journal_depth", *o.peer_journal_depth}, {"at_ms", o.peer_report_ms}};
  if (o.peer_journal_oldest_ms) j["journal_oldest_ms"] = *o.peer_journal_oldest_ms;
  if (o.peer_journal_bytes) j["journal_bytes"] = *o.peer_journal_bytes;
  try {
    host_->state().put(kStateKey, j.dump());
    saved_report_ = {o.peer_journal_depth, o.peer_report_ms};
  } catch (const std::exception& e) {
    host_->log().warn(std::string("cannot save the peer's journal report: ") + e.what());
  }
}

}  // namespace tandem::kv
