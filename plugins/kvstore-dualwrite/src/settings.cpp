#include "settings.h"

namespace tandem::kv {

using sdk::ConfigKey;
using sdk::ValueType;

std::string_view to_string(PeerDownPolicy p) { return p == PeerDownPolicy::refuse ? "refuse" : "journal"; }

std::string_view to_string(JournalFsync f) {
  switch (f) {
    case JournalFsync::always: return "always";
    case JournalFsync::everysec: return "everysec";
    case JournalFsync::no: return "no";
  }
  return "?";
}

namespace {
ConfigKey key(std::string name, ValueType type, std::string def, bool required, std::string description) {
  ConfigKey k;
  k.name = std::move(name);
  k.type = type;
  k.default_value = std::move(def);
  k.required = required;
  k.description = std::move(description);
  return k;
}
}  // namespace

sdk::ConfigSchema settings_schema() {
  return {
      key("listen_address", ValueType::string, "127.0.0.1", false,
          "Address the RESP endpoint listens on (on the active node only)."),
      key("listen_port", ValueType::integer, "", true, "Port of the RESP endpoint applications connect to."),
      key("local_host", ValueType::string, "127.0.0.1", false, "Host of this node's Redis."),
      key("local_port", ValueType::integer, "6379", false, "Port of this node's Redis."),
      key("local_password_file", ValueType::path, "", false,
          "File holding this node's Redis password (AUTH); empty: no AUTH."),
      key("peer_host", ValueType::string, "{peer}", false,
          "Host of the peer node's Redis; \"{peer}\" is replaced by the [peer] address."),
      key("peer_port", ValueType::integer, "6379", false, "Port of the peer node's Redis."),
      key("peer_password_file", ValueType::path, "", false, "File holding the peer's Redis password; empty: no AUTH."),
      key("db", ValueType::integer, "0", false, "Redis database number used on both Redis servers (SELECT)."),
      key("client_password_file", ValueType::path, "", false,
          "File holding the password clients must AUTH with at the endpoint; empty: no AUTH required."),
      key("peer_down", ValueType::string, "journal", false,
          "What writes do while the peer's Redis is unreachable: \"refuse\" (fail with -TANDEMDOWN) or \"journal\" "
          "(apply locally, record in the durable journal, replay later)."),
      key("journal_dir", ValueType::path, "", false, "Directory of the write journal; empty: <store dir>/journal."),
      key("journal_fsync", ValueType::string, "always", false,
          "When the journal is flushed to disk: \"always\" (before every acknowledgement, group commit), \"everysec\", "
          "or \"no\" (left to the OS)."),
      key("intent_fsync", ValueType::string, "everysec", false,
          "When the intent log (the keys of writes in flight, for crash reconciliation) is flushed to disk: it is "
          "always written before a write is sent, which survives a crash of tandemd; \"always\" also fdatasyncs "
          "each batch before it is sent (survives a power loss, costs a disk flush per batch), \"everysec\" once a "
          "second, \"no\" leaves it to the OS."),
      key("journal_max_size", ValueType::size, "1GiB", false,
          "Journal size past which writes are refused with -TANDEMJOURNALFULL (never dropped)."),
      key("sample_rate", ValueType::integer, "100", false,
          "Keys per second the background divergence sampler compares; 0 turns it off."),
      key("connect_timeout", ValueType::duration, "2s", false, "Timeout for connecting to either Redis."),
      key("command_timeout", ValueType::duration, "5s", false,
          "A Redis that has not answered a command for this long is treated as down."),
      key("reconnect_interval", ValueType::duration, "1s", false,
          "Pause between attempts to reconnect to a Redis that is down."),
      key("sync_interval", ValueType::duration, "1s", false,
          "How often the host runs sync(): health refresh, divergence sampling, rejoin cut-over."),
      key("rejoin_timeout", ValueType::duration, "5m", false,
          "How long rejoin waits for this node's Redis to finish copying the new primary's data."),
      key("max_request_size", ValueType::size, "64MiB", false,
          "Largest request (one command, or one pipelined command being read) a client may send; larger ones get an "
          "error and the connection is closed."),
      key("max_clients", ValueType::integer, "10000", false, "Most client connections the endpoint accepts at once."),
      key("client_output_buffer_limit", ValueType::size, "64MiB", false,
          "Replies a client has not read yet, in bytes, past which it is disconnected (Redis's "
          "client-output-buffer-limit hard limit); must exceed the largest reply a client reads."),
      key("max_transaction_size", ValueType::size, "64MiB", false,
          "Bytes of commands one MULTI may queue; past it the command is refused and EXEC fails with EXECABORT."),
      key("auth_timeout", ValueType::duration, "10s", false,
          "When client_password_file is set: a connection that has not authenticated within this time is closed."),
      key("auth_failure_delay", ValueType::duration, "200ms", false,
          "A wrong AUTH is answered only after this delay, and the connection reads nothing meanwhile (slows "
          "password guessing); failures are logged, at most once per 10 s."),
  };
}

namespace {
int port_value(const sdk::StoreConfig& config, std::string_view key) {
  auto v = config.integer(key);
  if (v < 1 || v > 65535) config.fail(key, "must be a TCP port between 1 and 65535, got " + std::to_string(v));
  return static_cast<int>(v);
}

std::chrono::milliseconds positive_duration(const sdk::StoreConfig& config, std::string_view key) {
  auto d = config.duration(key);
  if (d.count() <= 0) config.fail(key, "must be a positive duration such as \"500ms\" or \"2s\"");
  return d;
}
}  // namespace

Settings parse_settings(const sdk::StoreConfig& config, const sdk::HostContext& host) {
  Settings s;
  s.listen_address = config.string("listen_address");
  if (s.listen_address.empty()) config.fail("listen_address", "must not be empty (use \"127.0.0.1\" or \"0.0.0.0\")");
  s.listen_port = port_value(config, "listen_port");
  s.local.host = config.string("local_host");
  if (s.local.host.empty()) config.fail("local_host", "must not be empty");
  s.local.port = port_value(config, "local_port");
  s.local.password_file = config.string("local_password_file");
  s.peer.host = config.string("peer_host");
  if (auto pos = s.peer.host.find("{peer}"); pos != std::string::npos) {
    if (host.peer().address.empty())
      config.fail("peer_host", "uses \"{peer}\" but the [peer] table has no address; set peer_host explicitly");
    s.peer.host.replace(pos, 6, host.peer().address);
  }
  if (s.peer.host.empty()) config.fail("peer_host", "must not be empty");
  s.peer.port = port_value(config, "peer_port");
  s.peer.password_file = config.string("peer_password_file");
  if (s.peer.host == s.local.host && s.peer.port == s.local.port)
    config.fail("peer_port", "the peer's Redis (" + s.peer.describe() +
                                 ") is the same as the local one; dual writes need two servers");
  auto db = config.integer("db");
  if (db < 0 || db > 15) config.fail("db", "must be a Redis database number 0..15, got " + std::to_string(db));
  s.db = static_cast<int>(db);
  s.client_password_file = config.string("client_password_file");

  auto policy = config.string("peer_down");
  if (policy == "refuse")
    s.peer_down = PeerDownPolicy::refuse;
  else if (policy == "journal")
    s.peer_down = PeerDownPolicy::journal;
  else
    config.fail("peer_down", "must be \"refuse\" or \"journal\", got \"" + policy + "\"");

  s.journal_dir = config.string("journal_dir");
  auto fsync_policy = [&](std::string_view key) {
    auto v = config.string(key);
    if (v == "always") return JournalFsync::always;
    if (v == "everysec") return JournalFsync::everysec;
    if (v != "no") config.fail(key, "must be \"always\", \"everysec\" or \"no\", got \"" + v + "\"");
    return JournalFsync::no;
  };
  s.journal_fsync = fsync_policy("journal_fsync");
  s.intent_fsync = fsync_policy("intent_fsync");
  s.journal_max_size = config.size("journal_max_size");
  if (s.journal_max_size < 4096) config.fail("journal_max_size", "must be at least 4KiB");

  s.sample_rate = config.integer("sample_rate");
  if (s.sample_rate < 0) config.fail("sample_rate", "must be >= 0 keys per second (0 turns sampling off)");
  s.connect_timeout = positive_duration(config, "connect_timeout");
  s.command_timeout = positive_duration(config, "command_timeout");
  s.reconnect_interval = positive_duration(config, "reconnect_interval");
  s.sync_interval = positive_duration(config, "sync_interval");
  s.rejoin_timeout = positive_duration(config, "rejoin_timeout");
  s.max_request_size = config.size("max_request_size");
  if (s.max_request_size < 1024) config.fail("max_request_size", "must be at least 1KiB");
  s.max_clients = config.integer("max_clients");
  if (s.max_clients < 1) config.fail("max_clients", "must be at least 1");
  s.client_output_buffer_limit = config.size("client_output_buffer_limit");
  if (s.client_output_buffer_limit < (1u << 20)) config.fail("client_output_buffer_limit", "must be at least 1MiB");
  s.max_transaction_size = config.size("max_transaction_size");
  if (s.max_transaction_size < 1024) config.fail("max_transaction_size", "must be at least 1KiB");
  s.auth_timeout = positive_duration(config, "auth_timeout");
  s.auth_failure_delay = config.duration("auth_failure_delay");
  if (s.auth_failure_delay.count() < 0) config.fail("auth_failure_delay", "must not be negative");
  return s;
}

}  // namespace tandem::kv
