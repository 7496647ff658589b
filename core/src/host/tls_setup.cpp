#include "host/tls_setup.h"

namespace tandem::core {
namespace {

using sdk::net::ClientTlsFiles;
using sdk::net::ServerTlsFiles;
using sdk::net::TlsContext;

void note(std::vector<std::string>& errors, const ConfiguredFile& file, const std::string& key, const sdk::Status& st) {
  if (!st.ok()) errors.push_back(file.where + ": " + key + " " + st.message());
}

std::vector<std::string> check_api(const HostConfig& config) {
  std::vector<std::string> errors;
  const ApiConfig& api = config.api;
  if (!api.tls_cert_file || !api.tls_key_file) return errors;
  auto cert = sdk::net::check_certificate_file(api.tls_cert_file->path);
  note(errors, *api.tls_cert_file, "[api] tls_cert_file", cert);
  note(errors, *api.tls_key_file, "[api] tls_key_file",
       sdk::net::check_key_file(api.tls_key_file->path, api.tls_cert_file->path));
  if (cert.ok())
    note(errors, *api.tls_cert_file, "[api] tls_cert_file",
         sdk::net::check_certificate_names(api.tls_cert_file->path, config.node.address));
  if (api.tls_client_ca_file)
    note(errors, *api.tls_client_ca_file, "[api] tls_client_ca_file",
         sdk::net::check_ca_file(api.tls_client_ca_file->path));
  return errors;
}

bool peer_speaks_tls(const HostConfig& config) { return config.peer.api_url.rfind("https://", 0) == 0; }

std::vector<std::string> check_peer(const HostConfig& config) {
  std::vector<std::string> errors;
  const PeerConfig& peer = config.peer;
  if (!peer_speaks_tls(config)) return errors;
  if (peer.ca_file) note(errors, *peer.ca_file, "[peer] ca_file", sdk::net::check_ca_file(peer.ca_file->path));
  if (peer.tls_cert_file && peer.tls_key_file) {
    note(errors, *peer.tls_cert_file, "[peer] tls_cert_file",
         sdk::net::check_certificate_file(peer.tls_cert_file->path));
    note(errors, *peer.tls_key_file, "[peer] tls_key_file",
         sdk::net::check_key_file(peer.tls_key_file->path, peer.tls_cert_file->path));
  }
  return errors;
}

// [dcs] TLS to etcd (https:// endpoints): the same file checks as [peer]'s.
std::vector<std::string> check_dcs(const HostConfig& config) {
  std::vector<std::string> errors;
  if (!config.dcs || !config.dcs->tls) return errors;
  const DcsConfig& dcs = *config.dcs;
  auto where = [&](const char* key) {
    auto it = dcs.tls_where.find(key);
    return it != dcs.tls_where.end() ? it->second : dcs.location;
  };
  auto add = [&](const char* key, const sdk::Status& st) {
    if (!st.ok()) errors.push_back(where(key) + ": [dcs] " + key + " " + st.message());
  };
  if (dcs.ca_file) add("ca_file", sdk::net::check_ca_file(*dcs.ca_file));
  if (dcs.cert_file && dcs.key_file) {
    add("cert_file", sdk::net::check_certificate_file(*dcs.cert_file));
    add("key_file", sdk::net::check_key_file(*dcs.key_file, *dcs.cert_file));
  }
  return errors;
}

sdk::Error joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e;
  return sdk::Error{out, sdk::ErrorCode::invalid_config};
}

}  // namespace

std::vector<std::string> check_tls_files(const HostConfig& config) {
  auto errors = check_api(config);
  for (auto& e : check_peer(config)) errors.push_back(std::move(e));
  for (auto& e : check_dcs(config)) errors.push_back(std::move(e));
  if (!errors.empty()) return errors;
  // Anything the file checks let through that OpenSSL still refuses.
  if (auto api = api_server_tls(config); !api) errors.push_back(api.message());
  if (auto peer = peer_client_tls(config); !peer) errors.push_back(peer.message());
  if (auto dcs = dcs_client_tls(config); !dcs) errors.push_back(dcs.message());
  return errors;
}

sdk::Result<std::shared_ptr<const TlsContext>> api_server_tls(const HostConfig& config) {
  const ApiConfig& api = config.api;
  if (!api.tls_cert_file || !api.tls_key_file) return std::shared_ptr<const TlsContext>();
  if (auto errors = check_api(config); !errors.empty()) return joined(errors);
  ServerTlsFiles files{api.tls_cert_file->path, api.tls_key_file->path, std::nullopt};
  if (api.tls_client_ca_file) files.client_ca_file = api.tls_client_ca_file->path;
  auto context = sdk::net::make_server_tls(files);
  if (!context) return sdk::Error{api.tls_cert_file->where + ": [api] " + context.message(), context.code()};
  return context;
}

sdk::Result<std::shared_ptr<const TlsContext>> peer_client_tls(const HostConfig& config) {
  const PeerConfig& peer = config.peer;
  if (!peer_speaks_tls(config)) return std::shared_ptr<const TlsContext>();
  if (auto errors = check_peer(config); !errors.empty()) return joined(errors);
  ClientTlsFiles files;
  if (peer.ca_file) files.ca_file = peer.ca_file->path;
  if (peer.tls_cert_file && peer.tls_key_file) {
    files.cert_file = peer.tls_cert_file->path;
    files.key_file = peer.tls_key_file->path;
  }
  auto context = sdk::net::make_client_tls(files);
  if (!context) return sdk::Error{"[peer] " + context.message(), context.code()};
  return context;
}

sdk::Result<std::shared_ptr<const TlsContext>> dcs_client_tls(const HostConfig& config) {
  if (!config.dcs || !config.dcs->tls) return std::shared_ptr<const TlsContext>();
  if (auto errors = check_dcs(config); !errors.empty()) return joined(errors);
  const DcsConfig& dcs = *config.dcs;
  ClientTlsFiles files;
  files.ca_file = dcs.ca_file;
  if (dcs.cert_file && dcs.key_file) {
    files.cert_file = dcs.cert_file;
    files.key_file = dcs.key_file;
  }
  auto context = sdk::net::make_client_tls(files);
  if (!context) return sdk::Error{dcs.location + ": [dcs] " + context.message(), context.code()};
  return context;
}

}  // namespace tandem::core
