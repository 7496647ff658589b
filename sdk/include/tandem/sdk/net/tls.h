// TLS for tandem's HTTP client and server (OpenSSL through Boost.Asio's SSL
// streams): the contexts built from certificate files, the checks those files
// pass (the same ones `tandemd --check` runs, so the check refuses exactly what
// the daemon would), and one stream type that is plain TCP or TLS over TCP.
//
// Every context requires TLS 1.2 or later. A client context always verifies
// the server's certificate chain (the given CA file, else the system's trust
// store) and, per connection, the server's name: the URL's host, an IP
// address or a DNS name, must be in the certificate's subjectAltName.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "tandem/sdk/result.h"

namespace tandem::sdk::net {

// A client's files: whom to trust, and optionally its own certificate for
// servers that require one (mutual TLS). cert_file and key_file go together.
struct ClientTlsFiles {
  std::optional<std::filesystem::path> ca_file;  // none: the system's trust store
  std::optional<std::filesystem::path> cert_file;
  std::optional<std::filesystem::path> key_file;
};

// A server's certificate (chain) and key; with client_ca_file every client
// must present a certificate that CA signed.
struct ServerTlsFiles {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::optional<std::filesystem::path> client_ca_file;
};

// An OpenSSL context, built once and shared by every connection using it
// (read-only once built, so any thread).
class TlsContext {
 public:
  explicit TlsContext(boost::asio::ssl::context::method method) : context_(method) {}
  boost::asio::ssl::context& native() const { return context_; }
  bool is_client() const { return client_; }

 private:
  friend Result<std::shared_ptr<const TlsContext>> make_client_tls(const ClientTlsFiles&);
  friend Result<std::shared_ptr<const TlsContext>> make_server_tls(const ServerTlsFiles&);
  mutable boost::asio::ssl::context context_;
  bool client_ = false;
};

// Each failure has the code invalid_argument and a message naming the file,
// what is wrong with it and what to do ("... expired on 2002-01-01; issue a
// new certificate"). The key file is read with load_secret_file (mode 0600).
Result<std::shared_ptr<const TlsContext>> make_client_tls(const ClientTlsFiles& files);
Result<std::shared_ptr<const TlsContext>> make_server_tls(const ServerTlsFiles& files);

// The file checks alone, for config checks that report each problem:
// a PEM certificate (first one: the leaf) that is valid now; a CA bundle with
// at least one certificate; a key that is a secret file and matches `cert_file`.
Status check_certificate_file(const std::filesystem::path& cert_file);
Status check_ca_file(const std::filesystem::path& ca_file);
Status check_key_file(const std::filesystem::path& key_file, const std::filesystem::path& cert_file);
// Whether the certificate in `cert_file` names `host` (an IP literal or a DNS
// name) in its subjectAltName: a client verifying this name would accept it.
Status check_certificate_names(const std::filesystem::path& cert_file, const std::string& host);

// A TCP stream (beast::tcp_stream, whose deadlines bound every operation) with
// TLS on top when enabled. Models Asio's AsyncReadStream/AsyncWriteStream, so
// Beast's HTTP reads and writes take it as they take a tcp_stream.
class Stream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using Tls = boost::asio::ssl::stream<boost::beast::tcp_stream&>;

  template <class Socket>
  explicit Stream(Socket&& socket) : tcp_(std::forward<Socket>(socket)) {}

  executor_type get_executor() { return tcp_.get_executor(); }
  boost::beast::tcp_stream& tcp() { return tcp_; }
  boost::asio::ip::tcp::socket& socket() { return tcp_.socket(); }
  // A fresh TLS session on the (connected) socket; a client context also
  // sets the name to verify and send (SNI). Call before each handshake.
  Status start_tls(const TlsContext& context, const std::string& server_name = "");
  void stop_tls() { tls_.reset(); }
  Tls* tls() { return tls_ ? &*tls_ : nullptr; }
  // After a failed handshake: why verification refused the other side's
  // certificate ("certificate has expired"), or "" when it did not.
  std::string verify_failure();

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    else
      tcp_.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    else
      tcp_.async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  boost::beast::tcp_stream tcp_;
  std::optional<Tls> tls_;  // after tcp_: it refers to it
};

}  // namespace tandem::sdk::net
