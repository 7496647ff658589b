#include "tandem/sdk/net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "tandem/sdk/file_util.h"

namespace tandem::sdk::net {
namespace {

namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;

Error refuse(const fs::path& file, const std::string& why) {
  return Error{file.string() + " " + why, ErrorCode::invalid_config};
}

// The file's bytes, or why it cannot be read (what an operator should do).
Result<std::string> read_public_file(const fs::path& file, const std::string& what) {
  std::error_code ec;
  auto st = fs::status(file, ec);
  if (ec || !fs::exists(st)) return refuse(file, "does not exist; put the " + what + " (PEM) there");
  if (!fs::is_regular_file(st)) return refuse(file, "is not a regular file; name the PEM file of the " + what);
  std::ifstream in(file, std::ios::binary);
  if (!in) return refuse(file, std::string("cannot be read: ") + std::strerror(errno) + "; check its permissions");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(const std::string& pem) { return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

std::string utc(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// Every certificate in a PEM text, in order.
std::vector<X509Ptr> certificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  auto bio = memory_bio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the read ending at the last one leaves "no start line" queued
  return out;
}

Result<X509Ptr> leaf_certificate(const fs::path& file, std::string* pem_out = nullptr) {
  auto pem = read_public_file(file, "certificate");
  TANDEM_TRY(pem);
  auto certs = certificates(*pem);
  if (certs.empty())
    return refuse(file, "holds no PEM certificate (-----BEGIN CERTIFICATE-----); name the certificate file");
  X509* leaf = certs.front().get();
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
    return refuse(file, "holds a certificate that expired on " + utc(X509_get0_notAfter(leaf)) +
                            "; issue a new certificate (the peer and clients refuse an expired one)");
  if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
    return refuse(file, "holds a certificate not valid before " + utc(X509_get0_notBefore(leaf)) +
                            "; check this host's clock or issue a certificate valid now");
  if (pem_out) *pem_out = std::move(*pem);
  return std::move(certs.front());
}

Result<KeyPtr> private_key(const fs::path& key_file, X509* cert, const fs::path& cert_file, std::string* pem_out) {
  auto pem = load_secret_file(key_file);
  if (!pem) return Error{pem.message(), ErrorCode::invalid_config};
  *pem += "\n";
  auto bio = memory_bio(*pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key)
    return refuse(key_file,
                  "holds no PEM private key (or an encrypted one); give the unencrypted key of " + cert_file.string());
  if (X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return refuse(key_file, "is not the key of the certificate " + cert_file.string() +
                                "; give the key the certificate was issued for");
  }
  if (pem_out) *pem_out = std::move(*pem);
  return key;
}

Result<std::string> ca_bundle(const fs::path& file) {
  auto pem = read_public_file(file, "CA certificate");
  TANDEM_TRY(pem);
  if (certificates(*pem).empty())
    return refuse(file, "holds no PEM certificate (-----BEGIN CERTIFICATE-----); name the CA certificate file");
  return pem;
}

bool is_ip(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

void tls12_or_later(ssl::context& ctx) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::single_dh_use);
}

// Loads a checked certificate and key into the context.
Status use_identity(ssl::context& ctx, const fs::path& cert_file, const fs::path& key_file) {
  std::string cert_pem, key_pem;
  auto cert = leaf_certificate(cert_file, &cert_pem);
  TANDEM_TRY(cert);
  auto key = private_key(key_file, cert->get(), cert_file, &key_pem);
  TANDEM_TRY(key);
  boost::system::error_code ec;
  ctx.use_certificate_chain(boost::asio::buffer(cert_pem), ec);
  if (ec) return refuse(cert_file, "cannot be used as a certificate chain: " + ec.message());
  ctx.use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) return refuse(key_file, "cannot be used as the private key: " + ec.message());
  return {};
}

Status trust(ssl::context& ctx, const fs::path& ca_file) {
  auto pem = ca_bundle(ca_file);
  TANDEM_TRY(pem);
  boost::system::error_code ec;
  ctx.add_certificate_authority(boost::asio::buffer(*pem), ec);
  if (ec) return refuse(ca_file, "cannot be used as a CA bundle: " + ec.message());
  return {};
}

}  // namespace

Status check_certificate_file(const fs::path& cert_file) {
  auto cert = leaf_certificate(cert_file);
  TANDEM_TRY(cert);
  return {};
}

Status check_ca_file(const fs::path& ca_file) {
  auto pem = ca_bundle(ca_file);
  TANDEM_TRY(pem);
  return {};
}

Status check_key_file(const fs::path& key_file, const fs::path& cert_file) {
  auto cert = leaf_certificate(cert_file);
  if (!cert) {
    // Without a usable certificate only the file itself can be checked.
    auto secret = load_secret_file(key_file);
    if (!secret) return Error{secret.message(), ErrorCode::invalid_config};
    return {};
  }
  auto key = private_key(key_file, cert->get(), cert_file, nullptr);
  TANDEM_TRY(key);
  return {};
}

Status check_certificate_names(const fs::path& cert_file, const std::string& host) {
  auto cert = leaf_certificate(cert_file);
  TANDEM_TRY(cert);
  int match = is_ip(host) ? X509_check_ip_asc(cert->get(), host.c_str(), 0)
                          : X509_check_host(cert->get(), host.data(), host.size(), 0, nullptr);
  if (match == 1) return {};
  return refuse(cert_file, "does not name '" + host +
                               "' in its subjectAltName, so clients reaching this node there refuse it; issue it "
                               "with subjectAltName " +
                               (is_ip(host) ? "IP:" : "DNS:") + host);
}

Result<std::shared_ptr<const TlsContext>> make_client_tls(const ClientTlsFiles& files) {
  auto out = std::make_shared<TlsContext>(ssl::context::tls_client);
  out->client_ = true;
  auto& ctx = out->native();
  tls12_or_later(ctx);
  ctx.set_verify_mode(ssl::verify_peer);
  if (files.ca_file) {
    TANDEM_TRY(trust(ctx, *files.ca_file));
  } else {
    boost::system::error_code ec;
    ctx.set_default_verify_paths(ec);
    if (ec) return Error{"cannot load the system's trust store: " + ec.message() + "; give a CA file"};
  }
  if (files.cert_file.has_value() != files.key_file.has_value())
    return Error{"a client certificate needs both its certificate file and its key file", ErrorCode::invalid_config};
  if (files.cert_file) TANDEM_TRY(use_identity(ctx, *files.cert_file, *files.key_file));
  return std::shared_ptr<const TlsContext>(std::move(out));
}

Result<std::shared_ptr<const TlsContext>> make_server_tls(const ServerTlsFiles& files) {
  auto out = std::make_shared<TlsContext>(ssl::context::tls_server);
  auto& ctx = out->native();
  tls12_or_later(ctx);
  TANDEM_TRY(use_identity(ctx, files.cert_file, files.key_file));
  if (files.client_ca_file) {
    TANDEM_TRY(trust(ctx, *files.client_ca_file));
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // A server that verifies clients must name its session cache's context,
    // or OpenSSL fails every resumed handshake ("session id context
    // uninitialized", an internal-error alert): HAProxy's health checks
    // resume their last session, so every other check of a node failed and
    // HAProxy, marking the node down, cut every client session through it.
    static constexpr unsigned char kSessionContext[] = "tandem-server";
    SSL_CTX_set_session_id_context(ctx.native_handle(), kSessionContext, sizeof kSessionContext - 1);
  }
  return std::shared_ptr<const TlsContext>(std::move(out));
}

Status Stream::start_tls(const TlsContext& context, const std::string& server_name) {
  tls_.emplace(tcp_, context.native());
  if (!context.is_client()) return {};
  SSL* ssl = tls_->native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool ok = is_ip(server_name) ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) == 1
                               : X509_VERIFY_PARAM_set1_host(param, server_name.data(), server_name.size()) == 1 &&
                                     SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1;
  ERR_clear_error();
  if (!ok) return Error{"'" + server_name + "' cannot be verified as a TLS server name", ErrorCode::invalid_argument};
  return {};
}

std::string Stream::verify_failure() {
  if (!tls_) return "";
  long result = SSL_get_verify_result(tls_->native_handle());
  if (result == X509_V_OK) return "";
  return X509_verify_cert_error_string(result);
}

}  // namespace tandem::sdk::net
