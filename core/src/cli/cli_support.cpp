#include "cli/cli_support.h"

#include "tandem/sdk/file_util.h"
#include "tandem/sdk/net/tls.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <sstream>

#include <cmath>
#include <cstdio>
#include <ostream>

namespace tandem::cli {

std::optional<core::HostConfig> load_config_or_report(const std::filesystem::path& file, std::ostream& err) {
  auto loaded = core::load_host_config(file);
  if (auto* errors = std::get_if<core::ConfigErrors>(&loaded)) {
    err << errors->joined();
    return std::nullopt;
  }
  return std::get<core::HostConfig>(std::move(loaded));
}

core::PluginLoader loader_for(const core::HostConfig& config) { return core::PluginLoader(config.plugins.search_dirs); }

sdk::net::Url api_base_url(const std::string& bind_address, std::uint16_t port) {
  sdk::net::Url url;
  url.host = bind_address;
  // A wildcard bind is reached on loopback.
  if (url.host.empty() || url.host == "0.0.0.0") url.host = "127.0.0.1";
  if (url.host == "::") url.host = "::1";
  url.port = port;
  return url;
}

bool is_this_host(const std::string& host) {
  if (sdk::net::is_loopback_host(host)) return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (ec) return false;
  // Binding succeeds only to an address one of this host's interfaces has.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket probe(io);
  probe.open(address.is_v6() ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), ec);
  if (!ec) probe.bind({address, 0}, ec);
  return !ec;
}

sdk::Result<sdk::net::Response> DaemonEndpoint::request(sdk::net::Request req) const {
  if (url.scheme == sdk::net::Scheme::http && req.headers.count("Authorization") && !is_this_host(url.host))
    return sdk::Error{"refusing to send the API token in clear to " + url.to_string() +
                          ", which is not this host: use https (the node's [api] tls_cert_file and tls_key_file; "
                          "tandemctl --ca-file), or run tandemctl on the node",
                      sdk::ErrorCode::refused};
  req.tls = tls;
  req.tls_name = tls_name;
  return sdk::net::request(url, req);
}

namespace {

// For https: --ca-file or the config's [peer] ca_file, and this node's client
// certificate ([peer] tls_cert_file/tls_key_file) for an API requiring one.
std::optional<DaemonEndpoint> with_tls(DaemonEndpoint endpoint, const GlobalOptions& global,
                                       const core::HostConfig* config, std::ostream& err) {
  if (endpoint.url.scheme != sdk::net::Scheme::https) return endpoint;
  sdk::net::ClientTlsFiles files;
  files.ca_file = global.ca_file;
  if (config) {
    if (!files.ca_file && config->peer.ca_file) files.ca_file = config->peer.ca_file->path;
    if (config->api.tls_client_ca_file && config->peer.tls_cert_file && config->peer.tls_key_file) {
      files.cert_file = config->peer.tls_cert_file->path;
      files.key_file = config->peer.tls_key_file->path;
    }
  }
  auto tls = sdk::net::make_client_tls(files);
  if (!tls) {
    err << "cannot set up TLS to " << endpoint.url.to_string() << ": " << tls.message() << "\n";
    return std::nullopt;
  }
  endpoint.tls = *tls;
  return endpoint;
}

}  // namespace

std::optional<DaemonEndpoint> daemon_url(const GlobalOptions& global, const std::string& override_url,
                                         std::ostream& err) {
  if (!override_url.empty()) {
    auto url = sdk::net::parse_reachable_url(override_url);
    if (!url) {
      err << "--url: " << url.message() << "\n";
      return std::nullopt;
    }
    // The config only lends its CA and client certificate, when it loads.
    std::ostringstream ignored;
    auto config = url->scheme == sdk::net::Scheme::https ? load_config_or_report(global.config, ignored) : std::nullopt;
    return with_tls(DaemonEndpoint{*url, nullptr, ""}, global, config ? &*config : nullptr, err);
  }
  auto config = load_config_or_report(global.config, err);
  if (!config) {
    err << "(reading the daemon's address from " << global.config.string() << "; pass --url to give it directly)\n";
    return std::nullopt;
  }
  DaemonEndpoint endpoint{api_base_url(config->api.bind_address, config->api.port), nullptr, ""};
  if (config->api.tls_cert_file) {
    endpoint.url.scheme = sdk::net::Scheme::https;
    // Reached on loopback for a wildcard bind, it still must prove it is this node.
    endpoint.tls_name = config->node.address;
  }
  return with_tls(std::move(endpoint), global, &*config, err);
}

std::optional<std::string> read_api_token(const GlobalOptions& global,
                                          const std::optional<std::filesystem::path>& token_file, std::ostream& err) {
  std::optional<std::filesystem::path> file = token_file;
  if (!file) {
    auto config = load_config_or_report(global.config, err);
    if (!config) return std::nullopt;
    file = config->api.token_file;
    if (!file) {
      err << global.config.string() << " has no [api] token_file: mutating requests need the API token "
          << "(set token_file, or pass --token-file)\n";
      return std::nullopt;
    }
  }
  try {
    return sdk::read_secret_file(*file);
  } catch (const std::exception& e) {
    err << "cannot read the API token: " << e.what() << "\n";
    return std::nullopt;
  }
}

std::optional<sdk::net::Response> post_to_daemon(const DaemonEndpoint& base, const std::string& path,
                                                 const std::string& body, const std::string& token,
                                                 std::chrono::milliseconds timeout, std::ostream& err,
                                                 const std::string& hint) {
  sdk::net::Request req;
  req.method = "POST";
  req.target = path;
  req.body = body;
  req.headers["Authorization"] = "Bearer " + token;
  req.headers["Content-Type"] = "application/json";
  req.timeout = timeout;
  auto res = base.request(req);
  if (!res && res.code() == sdk::ErrorCode::refused) {
    err << res.message() << "\n";
    return std::nullopt;
  }
  if (!res) {
    err << "tandemd not answering at " << base.to_string() << ": is it running? (" << res.message() << ")" << hint
        << "\n";
    return std::nullopt;
  }
  return *res;
}

std::string human_bytes(double bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

std::string human_seconds(double seconds) {
  char buf[32];
  if (seconds < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  else if (seconds < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(seconds / 60),
                  static_cast<int>(std::fmod(seconds, 60)));
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(seconds / 3600),
                  static_cast<int>(std::fmod(seconds, 3600) / 60));
  return buf;
}

}  // namespace tandem::cli
