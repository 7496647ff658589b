// tandemd's TLS from its config: the API's server context ([api] tls_*), the
// peer channel's client context ([peer] ca_file, tls_cert_file/tls_key_file),
// etcd's client context ([dcs] ca_file, cert_file/key_file),
// and the checks of every file they name. `tandemd --check` runs the checks,
// the daemon builds the contexts through the same checks before it starts,
// so both refuse the same files with the same messages:
//   "t.toml:12:16: [api] tls_key_file /etc/tandem/tls/node.key can be read by group or others; run: chmod 600 ..."
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/host_config.h"
#include "tandem/sdk/net/tls.h"

namespace tandem::core {

// Every problem of the TLS files, one per line, "file:line:col: [section] key ...".
// Includes this node's certificate not naming [node] address (the peer reaches
// the node there and verifies that name).
std::vector<std::string> check_tls_files(const HostConfig& config);

// Null when [api] has no tls_cert_file (plain HTTP).
sdk::Result<std::shared_ptr<const sdk::net::TlsContext>> api_server_tls(const HostConfig& config);
// Null when [peer] api_url is http://.
sdk::Result<std::shared_ptr<const sdk::net::TlsContext>> peer_client_tls(const HostConfig& config);
// Null unless [dcs] endpoints are https:// (TLS to etcd: [dcs] ca_file, cert_file/key_file).
sdk::Result<std::shared_ptr<const sdk::net::TlsContext>> dcs_client_tls(const HostConfig& config);

}  // namespace tandem::core
