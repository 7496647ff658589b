// Helpers the tandemctl commands share: loading the config with its errors
// printed, the loader it implies, the daemon's URL and token.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "config/host_config.h"
#include "loader/plugin_loader.h"
#include "tandem/sdk/net/http_client.h"

namespace tandem::cli {

// Loads the config; on failure prints every error to `err` and returns nullopt.
std::optional<core::HostConfig> load_config_or_report(const std::filesystem::path& file, std::ostream& err);

// The loader for this config's [plugins] search_dirs (defaults when empty).
core::PluginLoader loader_for(const core::HostConfig& config);

// Where and how tandemctl reaches a daemon: its URL and, for https, whom to
// trust and the name its certificate must carry.
struct DaemonEndpoint {
  sdk::net::Url url;
  std::shared_ptr<const sdk::net::TlsContext> tls;  // https: --ca-file or [peer] ca_file, [peer] client cert
  std::string tls_name;                             // "" : the URL's host
  // Sends `req` with the TLS settings. A bearer token is never sent in clear
  // to a host that is not this machine: such a request fails unsent.
  sdk::Result<sdk::net::Response> request(sdk::net::Request req) const;
  std::string to_string() const { return url.to_string(); }
};

// The daemon's API: `override_url` when given, else from the config's [api]
// (https when it has tls_cert_file; the certificate must then name [node]
// address). Prints why on failure.
std::optional<DaemonEndpoint> daemon_url(const GlobalOptions& global, const std::string& override_url,
                                         std::ostream& err);

// True when `host` is loopback or an address of this machine (a socket can be
// bound to it): traffic to it never leaves the host.
bool is_this_host(const std::string& host);

// The URL tandemctl reaches a daemon listening on bind_address:port at
// (a wildcard bind on loopback).
sdk::net::Url api_base_url(const std::string& bind_address, std::uint16_t port);

// The API's bearer token: from `token_file` when given, else the config's
// [api] token_file. Prints why on failure.
std::optional<std::string> read_api_token(const GlobalOptions& global,
                                          const std::optional<std::filesystem::path>& token_file, std::ostream& err);

// POST `body` to `base` + `path` with the API token. On a transport failure
// prints "tandemd not answering at ..." (with `hint` appended) and returns nullopt.
std::optional<sdk::net::Response> post_to_daemon(const DaemonEndpoint& base, const std::string& path,
                                                 const std::string& body, const std::string& token,
                                                 std::chrono::milliseconds timeout, std::ostream& err,
                                                 const std::string& hint = "");

// "1.5 MiB", "12 B".
std::string human_bytes(double bytes);
// "3.2s", "4m05s", "2h10m".
std::string human_seconds(double seconds);

}  // namespace tandem::cli
