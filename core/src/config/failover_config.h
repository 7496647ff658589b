// [failover] and [dcs] of tandemd's TOML file: manual (the default) or
// automatic failover, and the etcd cluster automatic failover runs on
// (issue 16). Both tables are schema data (failover_keys(), dcs_keys()),
// checked with the same validator and words as a store table.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "tandem/sdk/config.h"

namespace tandem::core {

enum class FailoverMode { manual, automatic };

struct FailoverSettings {
  FailoverMode mode = FailoverMode::manual;
  // A secondary does not take over by itself when it is further behind than
  // this (bytes of WAL not replayed, KV journal entries, ...; the stores' lag).
  std::uint64_t maximum_lag_on_failover = 1u << 20;
  // The primary stops taking writes this long before its lease could have
  // expired on etcd's side.
  std::chrono::milliseconds fence_margin{std::chrono::seconds(2)};
  // A promote's (and a switchover's) probes of the peer wait this long at
  // most: its /v1/status and each store's prepare (FailoverRequest::peer_timeout).
  std::chrono::milliseconds peer_probe_timeout{std::chrono::seconds(2)};
  std::string location;  // "file:line:col" of [failover] ("" when absent)
};

struct DcsConfig {
  std::vector<std::string> endpoints;  // "http://host:port" of each etcd member, checked reachable
  std::chrono::milliseconds ttl{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_timeout{0};  // per etcd call, all members; 0: ttl / 3
  std::string prefix = "/tandem";              // keys: <prefix>/leader, <prefix>/epoch
  // TLS to etcd: the endpoints are https:// (all of them); the files are the
  // client's (ca_file: whom to trust, default the system's store; cert_file
  // with key_file: mutual TLS), their "file:line:col" in tls_where.
  bool tls = false;
  std::optional<std::filesystem::path> ca_file, cert_file, key_file;
  std::map<std::string, std::string> tls_where;
  std::string username;  // etcd auth (with password_file)
  std::optional<std::filesystem::path> password_file;
  std::string location;  // "file:line:col" of [dcs]

  // How often the primary renews its lease: a third of the TTL, so that two
  // renewals may fail before the fence deadline.
  std::chrono::milliseconds renew_interval() const { return ttl / 3; }
  std::chrono::milliseconds effective_retry_timeout() const {
    return retry_timeout.count() > 0 ? retry_timeout : ttl / 3;
  }
  std::string leader_key() const { return prefix + "/leader"; }
  std::string epoch_key() const { return prefix + "/epoch"; }
};

const sdk::ConfigSchema& failover_keys();
const sdk::ConfigSchema& dcs_keys();

// Reads [failover] and [dcs] from the document (either may be absent),
// appending "file:line:col: ..." errors. Checks what one file can tell: mode
// automatic needs [dcs]; ttl more than twice fence_margin; TLS and auth keys
// in pairs; https endpoints need the client's TLS. `file` names the file in
// messages; relative paths resolve against `base`.
void read_failover_tables(const toml::table& root, const std::string& file, const std::filesystem::path& base,
                          FailoverSettings& failover, std::optional<DcsConfig>& dcs, std::vector<std::string>& errors);

// The check that needs the stores: a lease shorter than three sync intervals
// of a store would let the secondary take over on data older than a lease.
// One message per store that breaks it ("" store_location: [dcs]'s place).
std::vector<std::string> check_ttl_against_sync(const DcsConfig& dcs, const std::string& store_name,
                                                const std::string& store_location,
                                                std::chrono::milliseconds sync_interval);

// The secret of [dcs] password_file, checked as every secret file is.
sdk::Result<std::string> read_dcs_password(const DcsConfig& dcs);

}  // namespace tandem::core
