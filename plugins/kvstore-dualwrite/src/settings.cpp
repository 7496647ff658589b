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

sdk::ConfigSchema settings_schema() {
  return {
      {.name = "listen_address",
       .type = ValueType::string,
       .default_value = "127.0.0.1",
       .description = "Address the RESP endpoint listens on (on the active node only)."},
      {.name = "listen_port",
       .type = ValueType::port,
       .required = true,
       .description = "Port of the RESP endpoint applications connect to."},
      {.name = "local_host",
       .type = ValueType::string,
       .default_value = "127.0.0.1",
       .description = "Host of this node's Redis."},
      {.name = "local_port",
       .type = ValueType::port,
       .default_value = "6379",
       .description = "Port of this node's Redis."},
      {.name = "local_password_file",
       .type = ValueType::path,
       .description = "File holding this node's Redis password (AUTH); empty: no AUTH.",
       .path_rule = sdk::PathRule::absolute,
       .secret = true},
      {.name = "peer_host",
       .type = ValueType::string,
       .default_value = "{peer}",
       .description = "Host of the peer node's Redis; \"{peer}\" is replaced by the [peer] address."},
      {.name = "peer_port",
       .type = ValueType::port,
       .default_value = "6379",
       .description = "Port of the peer node's Redis."},
      {.name = "peer_password_file",
       .type = ValueType::path,
       .description = "File holding the peer's Redis password; empty: no AUTH.",
       .path_rule = sdk::PathRule::absolute,
       .secret = true},
      {.name = "db",
       .type = ValueType::integer,
       .default_value = "0",
       .description = "Redis database number used on both Redis servers (SELECT).",
       .min = "0",
       .max = "15"},
      {.name = "client_password_file",
       .type = ValueType::path,
       .description = "File holding the password clients must AUTH with at the endpoint; empty: no AUTH required.",
       .path_rule = sdk::PathRule::absolute,
       .secret = true},
      {.name = "peer_down",
       .type = ValueType::string,
       .default_value = "journal",
       .description =
           "What writes do while the peer's Redis is unreachable: \"refuse\" (fail with -TANDEMDOWN) or \"journal\" "
           "(apply locally, record in the durable journal, replay later).",
       .choices = {"refuse", "journal"}},
      {.name = "journal_dir",
       .type = ValueType::path,
       .description = "Directory of the write journal; empty: <store dir>/journal."},
      {.name = "journal_fsync",
       .type = ValueType::string,
       .default_value = "always",
       .description = "When the journal is flushed to disk: \"always\" (before every acknowledgement, group commit), "
                      "\"everysec\", "
                      "or \"no\" (left to the OS).",
       .choices = {"always", "everysec", "no"}},
      {.name = "intent_fsync",
       .type = ValueType::string,
       .default_value = "everysec",
       .description =
           "When the intent log (the keys of writes in flight, for crash reconciliation) is flushed to disk: it "
           "is always written before a write is sent, which survives a crash of tandemd; \"always\" also "
           "fdatasyncs each batch before it is sent (survives a power loss, costs a disk flush per batch), "
           "\"everysec\" once a second, \"no\" leaves it to the OS.",
       .choices = {"always", "everysec", "no"}},
      {.name = "journal_max_size",
       .type = ValueType::size,
       .default_value = "1GiB",
       .description = "Journal size past which writes are refused with -TANDEMJOURNALFULL (never dropped).",
       .min = "4KiB",
       .max = "16TiB"},
      {.name = "sample_rate",
       .type = ValueType::integer,
       .default_value = "100",
       .description = "Keys per second the background divergence sampler compares; 0 turns it off.",
       .min = "0",
       .max = "1000000"},
      {.name = "connect_timeout",
       .type = ValueType::duration,
       .default_value = "2s",
       .description = "Timeout for connecting to either Redis.",
       .min = "1ms",
       .max = "1h"},
      {.name = "command_timeout",
       .type = ValueType::duration,
       .default_value = "5s",
       .description = "A Redis that has not answered a command for this long is treated as down.",
       .min = "1ms",
       .max = "1h"},
      {.name = "reconnect_interval",
       .type = ValueType::duration,
       .default_value = "1s",
       .description = "Pause between attempts to reconnect to a Redis that is down.",
       .min = "1ms",
       .max = "1h"},
      {.name = "rejoin_timeout",
       .type = ValueType::duration,
       .default_value = "5m",
       .description = "How long rejoin waits for this node's Redis to finish copying the new primary's data.",
       .min = "1ms",
       .max = "1d"},
      {.name = "script_tap_idle",
       .type = ValueType::duration,
       .default_value = "30s",
       .description = "After this long without a script (EVAL, FCALL, XREADGROUP...), the endpoint stops reading the "
                      "peer's replication stream, which every plain write pays for; the next script resumes it first. "
                      "0s: always read it.",
       .min = "0s",
       .max = "1d"},
      {.name = "max_request_size",
       .type = ValueType::size,
       .default_value = "64MiB",
       .description =
           "Largest request (one command, or one pipelined command being read) a client may send; larger ones get an "
           "error and the connection is closed.",
       .min = "1KiB",
       .max = "4GiB"},
      {.name = "max_clients",
       .type = ValueType::integer,
       .default_value = "10000",
       .description = "Most client connections the endpoint accepts at once.",
       .min = "1",
       .max = "1000000"},
      {.name = "client_output_buffer_limit",
       .type = ValueType::size,
       .default_value = "64MiB",
       .description = "Replies a client has not read yet, in bytes, past which it is disconnected (Redis's "
                      "client-output-buffer-limit hard limit); must exceed the largest reply a client reads.",
       .min = "1MiB",
       .max = "64GiB"},
      {.name = "pubsub_output_buffer_limit",
       .type = ValueType::size,
       .default_value = "32MiB",
       .description = "Messages a subscribed client has not read yet, in bytes, past which it is disconnected "
                      "(Redis's client-output-buffer-limit pubsub hard limit).",
       .min = "1KiB",
       .max = "64GiB"},
      {.name = "pubsub_output_buffer_soft_limit",
       .type = ValueType::size,
       .default_value = "8MiB",
       .description = "A subscribed client whose unread messages stay above this for pubsub_output_buffer_soft_time "
                      "is disconnected (Redis's pubsub soft limit).",
       .min = "1KiB",
       .max = "64GiB"},
      {.name = "pubsub_output_buffer_soft_time",
       .type = ValueType::duration,
       .default_value = "60s",
       .description = "How long a subscribed client may stay above pubsub_output_buffer_soft_limit.",
       .min = "1ms",
       .max = "1d"},
      {.name = "max_transaction_size",
       .type = ValueType::size,
       .default_value = "64MiB",
       .description = "Bytes of commands one MULTI may queue; past it the command is refused and EXEC fails with "
                      "EXECABORT.",
       .min = "1KiB",
       .max = "4GiB"},
      {.name = "auth_timeout",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "When client_password_file is set: a connection that has not authenticated within this time is "
                      "closed.",
       .min = "1ms",
       .max = "1d"},
      {.name = "auth_failure_delay",
       .type = ValueType::duration,
       .default_value = "200ms",
       .description = "A wrong AUTH is answered only after this delay, and the connection reads nothing meanwhile "
                      "(slows password guessing); failures are logged, at most once per 10 s.",
       .max = "1h"},
  };
}

sdk::Result<Settings> parse_settings(const sdk::StoreConfig& config, const sdk::HostContext& host) {
  Settings s;
  s.listen_address = config.string("listen_address");
  if (s.listen_address.empty())
    return config.error("listen_address", "must not be empty (use \"127.0.0.1\" or \"0.0.0.0\")");
  s.listen_port = config.port("listen_port");
  s.local.host = config.string("local_host");
  if (s.local.host.empty()) return config.error("local_host", "must not be empty");
  s.local.port = config.port("local_port");
  s.local.password_file = config.path("local_password_file");
  s.peer.host = config.string("peer_host");
  if (s.peer.host.find(sdk::kPeerPlaceholder) != std::string::npos && host.peer().address.empty())
    return config.error("peer_host", "uses \"{peer}\" but the [peer] table has no address; set peer_host explicitly");
  s.peer.host = sdk::substitute_peer(s.peer.host, host.peer().address);
  if (s.peer.host.empty()) return config.error("peer_host", "must not be empty");
  s.peer.port = config.port("peer_port");
  s.peer.password_file = config.path("peer_password_file");
  if (s.peer.host == s.local.host && s.peer.port == s.local.port)
    return config.error("peer_port", "the peer's Redis (" + s.peer.describe() +
                                         ") is the same as the local one; dual writes need two servers");
  s.db = static_cast<int>(config.integer("db"));
  s.client_password_file = config.path("client_password_file");
  s.peer_down = config.choice<PeerDownPolicy>(
      "peer_down", {{"refuse", PeerDownPolicy::refuse}, {"journal", PeerDownPolicy::journal}});
  s.journal_dir = config.path("journal_dir");
  auto fsync_policy = [&](std::string_view key) {
    return config.choice<JournalFsync>(
        key, {{"always", JournalFsync::always}, {"everysec", JournalFsync::everysec}, {"no", JournalFsync::no}});
  };
  s.journal_fsync = fsync_policy("journal_fsync");
  s.intent_fsync = fsync_policy("intent_fsync");
  s.journal_max_size = config.size("journal_max_size");
  s.sample_rate = config.integer("sample_rate");
  s.connect_timeout = config.duration("connect_timeout");
  s.command_timeout = config.duration("command_timeout");
  s.reconnect_interval = config.duration("reconnect_interval");
  s.sync_interval = config.sync_interval();
  s.rejoin_timeout = config.duration("rejoin_timeout");
  s.script_tap_idle = config.duration("script_tap_idle");
  s.max_request_size = config.size("max_request_size");
  s.max_clients = config.integer("max_clients");
  s.client_output_buffer_limit = config.size("client_output_buffer_limit");
  s.max_transaction_size = config.size("max_transaction_size");
  s.pubsub_output_buffer_limit = config.size("pubsub_output_buffer_limit");
  s.pubsub_output_buffer_soft_limit = config.size("pubsub_output_buffer_soft_limit");
  s.pubsub_output_buffer_soft_time = config.duration("pubsub_output_buffer_soft_time");
  s.auth_timeout = config.duration("auth_timeout");
  s.auth_failure_delay = config.duration("auth_failure_delay");
  return s;
}

}  // namespace tandem::kv
