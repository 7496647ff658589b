#include "config/failover_config.h"

#include "config/host_config.h"
#include "config/toml_support.h"
#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::core {
namespace {

using sdk::ValueType;

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// The table `name` as a StoreEntry, so the schema validator can read it.
std::optional<StoreEntry> host_table(const toml::table& root, const std::string& name, const std::string& file,
                                     std::vector<std::string>& errors) {
  const toml::node* node = root.get(name);
  if (!node) return std::nullopt;
  const toml::table* t = node->as_table();
  if (!t) {
    errors.push_back(config_detail::location(*node, file) + ": '" + name + "' must be a table ([" + name + "]), got " +
                     std::string(config_detail::type_name(*node)));
    return std::nullopt;
  }
  StoreEntry e;
  e.name = name;
  e.location = config_detail::location(*t, file);
  // A non-owning pointer: the table lives as long as the document, which
  // outlives this read.
  e.table = std::shared_ptr<const toml::table>(std::shared_ptr<const toml::table>(), t);
  return e;
}

// The values of a table checked against `schema`, or nullopt (errors recorded).
std::optional<sdk::StoreConfig> checked(const StoreEntry& table, const sdk::ConfigSchema& schema,
                                        std::vector<std::string>& errors) {
  auto v = validate_host_table(table, schema);
  if (auto* e = std::get_if<ConfigErrors>(&v)) {
    errors.insert(errors.end(), e->messages.begin(), e->messages.end());
    return std::nullopt;
  }
  return std::get<sdk::StoreConfig>(std::move(v));
}

std::optional<std::filesystem::path> optional_path(const sdk::StoreConfig& c, const char* key,
                                                   const std::filesystem::path& base) {
  if (!c.has(key)) return std::nullopt;
  return config_detail::resolve_path(base, c.string(key));
}

}  // namespace

const sdk::ConfigSchema& failover_keys() {
  static const sdk::ConfigSchema keys = {
      {.name = "mode",
       .type = ValueType::string,
       .default_value = "manual",
       .description = "manual: an operator runs tandemctl promote; automatic: the secondary takes over by itself "
                      "through an etcd leader lease (needs [dcs])",
       .choices = {"manual", "automatic"}},
      {.name = "maximum_lag_on_failover",
       .type = ValueType::size,
       .default_value = "1MiB",
       .description = "automatic mode: the secondary does not take over when a store lags more than this",
       .min = "0"},
      {.name = "fence_margin",
       .type = ValueType::duration,
       .default_value = "2s",
       .description = "automatic mode: the primary stops taking writes this long before its lease could have "
                      "expired on etcd's side",
       .min = "100ms",
       .max = "1m"},
      {.name = "peer_probe_timeout",
       .type = ValueType::duration,
       .default_value = "2s",
       .description = "how long a promote's or switchover's probes of the peer (its status, each store's prepare) "
                      "wait for an answer: a silent peer delays a takeover by about this much",
       .min = "1s",
       .max = "1m"},
  };
  return keys;
}

const sdk::ConfigSchema& dcs_keys() {
  static const sdk::ConfigSchema keys = {
      {.name = "endpoints",
       .type = ValueType::string_array,
       .required = true,
       .description = "client URLs of the etcd members, three of them (two lose their quorum with one loss)"},
      {.name = "ttl",
       .type = ValueType::duration,
       .default_value = "10s",
       .description = "the leader lease: without renewal the leader key is gone this long after the last one",
       .min = "2s",
       .max = "1h"},
      {.name = "retry_timeout",
       .type = ValueType::duration,
       .description = "how long one etcd operation is retried over the members (default: ttl / 3)",
       .min = "100ms",
       .max = "1h"},
      {.name = "prefix",
       .type = ValueType::string,
       .default_value = "/tandem",
       .description = "key prefix of this pair in etcd: <prefix>/leader, <prefix>/epoch"},
      {.name = "ca_file", .type = ValueType::path, .description = "CA certificate for https endpoints"},
      {.name = "cert_file", .type = ValueType::path, .description = "client certificate (with key_file)"},
      {.name = "key_file", .type = ValueType::path, .description = "client key (with cert_file)", .secret = true},
      {.name = "username", .type = ValueType::string, .description = "etcd user (with password_file)"},
      {.name = "password_file",
       .type = ValueType::path,
       .description = "file holding the etcd user's password (mode 0600)",
       .secret = true},
  };
  return keys;
}

void read_failover_tables(const toml::table& root, const std::string& file, const std::filesystem::path& base,
                          FailoverSettings& failover, std::optional<DcsConfig>& dcs, std::vector<std::string>& errors) {
  std::string mode_location;
  if (auto table = host_table(root, "failover", file, errors)) {
    failover.location = table->location;
    if (auto c = checked(*table, failover_keys(), errors)) {
      failover.mode = c->string("mode") == "automatic" ? FailoverMode::automatic : FailoverMode::manual;
      failover.maximum_lag_on_failover = c->size("maximum_lag_on_failover");
      failover.fence_margin = c->duration("fence_margin");
      failover.peer_probe_timeout = c->duration("peer_probe_timeout");
      mode_location = c->has("mode") ? c->where("mode") : table->location;
    }
  }
  if (auto table = host_table(root, "dcs", file, errors)) {
    if (auto c = checked(*table, dcs_keys(), errors)) {
      DcsConfig d;
      d.location = table->location;
      std::size_t errors_before = errors.size();
      std::size_t https = 0;
      for (const auto& text : c->strings("endpoints")) {
        auto url = sdk::net::parse_reachable_url(text);
        if (url) {
          d.endpoints.push_back(url->to_string());
          if (url->scheme == sdk::net::Scheme::https) ++https;
        } else {
          errors.push_back(c->where("endpoints") + ": [dcs] endpoints: " + url.message());
        }
      }
      // One cluster speaks one scheme: a mix is a typo, and would send the
      // client certificate to some members and nothing to others.
      if (https != 0 && https != d.endpoints.size())
        errors.push_back(c->where("endpoints") +
                         ": [dcs] endpoints mix http:// and https://; write every member's client URL with the "
                         "scheme its cluster serves");
      d.tls = https != 0;
      if (d.endpoints.empty() && errors.size() == errors_before)
        errors.push_back(c->where("endpoints") +
                         ": [dcs] endpoints is empty; list the client URL of each etcd member (three of them)");
      d.ttl = c->duration("ttl");
      if (c->has("retry_timeout")) d.retry_timeout = c->duration("retry_timeout");
      d.prefix = c->string("prefix");
      if (d.prefix.empty())
        errors.push_back(c->where("prefix") + ": [dcs] prefix is empty; write e.g. prefix = \"/tandem/pair1\"");
      while (d.prefix.size() > 1 && d.prefix.back() == '/') d.prefix.pop_back();
      d.ca_file = optional_path(*c, "ca_file", base);
      d.cert_file = optional_path(*c, "cert_file", base);
      d.key_file = optional_path(*c, "key_file", base);
      if (c->has("username")) d.username = c->string("username");
      d.password_file = optional_path(*c, "password_file", base);
      if (d.cert_file.has_value() != d.key_file.has_value())
        errors.push_back(c->where(d.cert_file ? "cert_file" : "key_file") +
                         ": [dcs] cert_file and key_file go together (a client certificate and its key)");
      if (!d.username.empty() != d.password_file.has_value())
        errors.push_back(c->where(d.password_file ? "password_file" : "username") +
                         ": [dcs] username and password_file go together");
      // The TLS keys only make sense with https endpoints: no key is accepted
      // that the daemon would then ignore.
      for (const char* key : {"ca_file", "cert_file", "key_file"})
        if (c->has(key) && !d.tls && !d.endpoints.empty()) {
          errors.push_back(c->where(key) + ": [dcs] " + key +
                           " is for TLS to etcd, but the endpoints are http://; write them https:// (the members "
                           "serving TLS) or remove the key");
        } else if (c->has(key)) {
          d.tls_where[key] = c->where(key);
        }
      // Secret files are read as every secret file is (sdk::load_secret_file).
      for (const char* key : {"password_file", "key_file"})
        if (c->has(key))
          if (auto secret = sdk::load_secret_file(config_detail::resolve_path(base, c->string(key))); !secret)
            errors.push_back(c->where(key) + ": [dcs] key '" + key + "': " + secret.message());
      if (d.ttl <= 2 * failover.fence_margin)
        errors.push_back(c->where("ttl") + ": [dcs] ttl " + seconds_text(d.ttl) +
                         " must be more than twice [failover] fence_margin (" + seconds_text(failover.fence_margin) +
                         "): the primary would fence itself before it could renew its lease");
      dcs = std::move(d);
    }
  }
  if (failover.mode == FailoverMode::automatic && !dcs && !mode_location.empty()) {
    bool dcs_written = root.get("dcs") != nullptr;  // then its own errors were reported
    if (!dcs_written)
      errors.push_back(mode_location +
                       ": [failover] mode = \"automatic\" needs a [dcs] table: add [dcs] with endpoints = [three "
                       "etcd client URLs], or set mode = \"manual\"");
  }
}

std::vector<std::string> check_ttl_against_sync(const DcsConfig& dcs, const std::string& store_name,
                                                const std::string& store_location,
                                                std::chrono::milliseconds sync_interval) {
  if (sync_interval.count() <= 0 || dcs.ttl >= 3 * sync_interval) return {};
  return {(store_location.empty() ? dcs.location : store_location) + ": store '" + store_name + "': sync_interval " +
          seconds_text(sync_interval) + " is more than a third of [dcs] ttl " + seconds_text(dcs.ttl) + " (at " +
          dcs.location + "): the lag a takeover is gated on would be older than a lease; raise ttl to " +
          seconds_text(3 * sync_interval) + " or lower sync_interval"};
}

sdk::Result<std::string> read_dcs_password(const DcsConfig& dcs) {
  if (!dcs.password_file) return std::string();
  auto secret = sdk::load_secret_file(*dcs.password_file);
  if (!secret) return sdk::Error{"[dcs] password_file " + secret.message(), secret.code()};
  return secret;
}

}  // namespace tandem::core
