#include "settings.h"

#include <cctype>

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

// One class of Redis's client-output-buffer-limit as three keys,
// <prefix>_output_buffer_limit, _soft_limit and _soft_time: declared here
// once for both classes (clients, subscribers), so they mean the same.
struct OutputLimitKeys {
  std::string_view prefix;       // "client", "pubsub"
  std::string_view redis_class;  // Redis's name of the class
  std::string_view who;          // "a client"
  std::string_view what;         // "replies"
  std::string_view hard, soft, soft_time;
  std::string_view hard_note = "", soft_note = "";  // what differs for the class
  std::string_view hard_min = "1KiB";
};

void add_output_limit_keys(sdk::ConfigSchema& keys, const OutputLimitKeys& k) {
  const std::string key = std::string(k.prefix) + "_output_buffer_";
  std::string what(k.what), who(k.who);
  what[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(what[0])));
  who[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(who[0])));
  keys.push_back({.name = key + "limit",
                  .type = ValueType::size,
                  .default_value = std::string(k.hard),
                  .description = what + " " + std::string(k.who) +
                                 " has not read yet, in bytes, past which it is disconnected at once (Redis's "
                                 "client-output-buffer-limit " +
                                 std::string(k.redis_class) + " hard limit)" + std::string(k.hard_note) + ".",
                  .min = std::string(k.hard_min),
                  .max = "64GiB"});
  keys.push_back({.name = key + "soft_limit",
                  .type = ValueType::size,
                  .default_value = std::string(k.soft),
                  .description = who + " whose unread " + std::string(k.what) + " stay above this for " + key +
                                 "soft_time is disconnected (Redis's " + std::string(k.redis_class) + " soft limit)" +
                                 std::string(k.soft_note) + "; at most " + key + "limit.",
                  .min = "1KiB",
                  .max = "64GiB"});
  keys.push_back({.name = key + "soft_time",
                  .type = ValueType::duration,
                  .default_value = std::string(k.soft_time),
                  .description = "How long " + std::string(k.who) + " may stay above " + key + "soft_limit.",
                  .min = "1ms",
                  .max = "1d"});
}

sdk::Result<OutputBufferLimit> parse_output_limit(const sdk::StoreConfig& config, std::string_view prefix) {
  const std::string key = std::string(prefix) + "_output_buffer_";
  OutputBufferLimit l{config.size(key + "limit"), config.size(key + "soft_limit"), config.duration(key + "soft_time")};
  if (l.soft > l.hard)
    return config.error(key + "soft_limit", "must not exceed " + key + "limit (" + std::to_string(l.hard) + " bytes)");
  return l;
}

}  // namespace

sdk::ConfigSchema settings_schema() {
  sdk::ConfigSchema keys = {
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
       .description = "The endpoint reads the peer's replication stream (which every plain write pays for) from the "
                      "first script (EVAL, FCALL, XREADGROUP...) on, and stops after this long without one; the next "
                      "script resumes it first. 0s: read it from the start, always.",
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
  };
  add_output_limit_keys(keys, {.prefix = "client",
                               .redis_class = "normal",
                               .who = "a client",
                               .what = "replies",
                               .hard = "64MiB",
                               .soft = "8MiB",
                               .soft_time = "10s",
                               .hard_note = "; must exceed the largest reply a client reads",
                               .soft_note = "; above it the endpoint reads none of its requests until it has read "
                                            "below it again, so a client that reads, however slowly, is served at "
                                            "its pace",
                               .hard_min = "1MiB"});
  add_output_limit_keys(keys, {.prefix = "pubsub",
                               .redis_class = "pubsub",
                               .who = "a subscribed client",
                               .what = "messages",
                               .hard = "32MiB",
                               .soft = "8MiB",
                               .soft_time = "60s"});
  keys.insert(
      keys.end(),
      {
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
           .description =
               "When client_password_file is set: a connection that has not authenticated within this time is "
               "closed.",
           .min = "1ms",
           .max = "1d"},
          {.name = "auth_failure_delay",
           .type = ValueType::duration,
           .default_value = "200ms",
           .description = "A wrong AUTH is answered only after this delay, and the connection reads nothing meanwhile "
                          "(slows password guessing); failures are logged, at most once per 10 s.",
           .max = "1h"},
      });
  return keys;
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
  TANDEM_TRY_ASSIGN(s.client_output, parse_output_limit(config, "client"));
  TANDEM_TRY_ASSIGN(s.pubsub_output, parse_output_limit(config, "pubsub"));
  s.max_transaction_size = config.size("max_transaction_size");
  s.auth_timeout = config.duration("auth_timeout");
  s.auth_failure_delay = config.duration("auth_failure_delay");
  return s;
}

}  // namespace tandem::kv
