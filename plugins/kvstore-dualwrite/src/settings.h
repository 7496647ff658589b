// The kvstore-dualwrite store table: its schema (as data) and the validated,
// typed settings configure() derives from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "tandem/sdk/config.h"
#include "tandem/sdk/host_context.h"

namespace tandem::kv {

enum class PeerDownPolicy { refuse, journal };
enum class JournalFsync { always, everysec, no };

std::string_view to_string(PeerDownPolicy p);
std::string_view to_string(JournalFsync f);

// Where one Redis is and how to log in to it. The password is read from
// password_file at start(), never kept in the config or logged.
struct RedisAddress {
  std::string host;
  int port = 6379;
  std::filesystem::path password_file;  // empty: no AUTH
  std::string describe() const { return host + ":" + std::to_string(port); }
};

// Redis's client-output-buffer-limit of one class of clients: a client
// whose unread bytes pass `hard` is disconnected at once; one whose unread
// bytes stay above `soft` for `soft_time`, too.
struct OutputBufferLimit {
  std::uint64_t hard;
  std::uint64_t soft;
  std::chrono::milliseconds soft_time;
};

struct Settings {
  std::string listen_address = "127.0.0.1";
  int listen_port = 0;
  RedisAddress local;
  RedisAddress peer;
  int db = 0;
  std::filesystem::path client_password_file;  // empty: the endpoint asks for no AUTH
  PeerDownPolicy peer_down = PeerDownPolicy::journal;
  std::filesystem::path journal_dir;  // empty: host.store_dir()/journal
  JournalFsync journal_fsync = JournalFsync::always;
  JournalFsync intent_fsync = JournalFsync::everysec;  // intent_log.h
  std::uint64_t journal_max_size = 1ull << 30;
  std::int64_t sample_rate = 100;  // keys per second compared by the background sampler; 0 = off
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};
  std::chrono::milliseconds reconnect_interval{1000};
  std::chrono::milliseconds sync_interval{1000};
  std::chrono::milliseconds rejoin_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds script_tap_idle{30000};  // no script this long: the replication tap parks (0: never)
  std::uint64_t max_request_size = 64ull << 20;
  std::int64_t max_clients = 10000;
  // A client's unread replies (README "Limits"); past its soft limit its
  // requests are no longer read (paced) until it reads.
  OutputBufferLimit client_output{64ull << 20, 8ull << 20, std::chrono::seconds(10)};
  std::uint64_t max_transaction_size = 64ull << 20;  // bytes of commands queued by one MULTI
  // A subscriber's unread messages (Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`).
  OutputBufferLimit pubsub_output{32ull << 20, 8ull << 20, std::chrono::seconds(60)};
  std::chrono::milliseconds auth_timeout{10000};      // unauthenticated connections are closed after this
  std::chrono::milliseconds auth_failure_delay{200};  // a wrong AUTH is answered after this
};

sdk::ConfigSchema settings_schema();

// Validates `config`; an invalid_config error names the key and its location.
// "{peer}" in peer_host is replaced by host.peer().address. Touches nothing.
sdk::Result<Settings> parse_settings(const sdk::StoreConfig& config, const sdk::HostContext& host);

}  // namespace tandem::kv
