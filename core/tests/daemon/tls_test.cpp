// TLS end to end on loopback: tandemd's API server (api/http_server.h) with a
// server context, the SDK's client verifying it, mutual TLS, and every bad
// certificate input refused with a message naming the file and the fix, at
// --check (check_config_file) and at daemon start alike. Certificates come
// from scripts/make-test-certs.sh, made for each test.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "api/http_server.h"
#include "config/host_config.h"
#include "daemon/tandem_daemon.h"
#include "host/config_check.h"
#include "support/test_certs.h"
#include "tandem/sdk/net/http_client.h"
#include "tandem/sdk/net/tls.h"
#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::core {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using sdk::net::ClientTlsFiles;
using sdk::net::Request;
using sdk::net::ServerTlsFiles;
using sdk::net::Url;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::shared_ptr<const sdk::net::TlsContext> must(sdk::Result<std::shared_ptr<const sdk::net::TlsContext>> r) {
  if (!r) throw std::runtime_error(r.message());
  return *r;
}

// An HTTPS server answering "hello" (and who the client was, by certificate).
class TlsServer {
 public:
  explicit TlsServer(std::shared_ptr<const sdk::net::TlsContext> tls) {
    HttpServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.tls = std::move(tls);
    server_ = std::make_unique<HttpServer>(o, [](HttpRequest&& req, HttpResponder respond) {
      HttpResponse res{http::status::ok, req.version()};
      res.body() = "hello";
      res.prepare_payload();
      respond(std::move(res));
    });
    server_->start();
  }
  Url url(const std::string& host = "127.0.0.1") const {
    return Url{sdk::net::Scheme::https, host, server_->port(), ""};
  }
  std::uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<HttpServer> server_;
};

class Tls : public ::testing::Test {
 protected:
  testsupport::TestCerts certs;
  ServerTlsFiles server_files(const std::string& name = "alpha") {
    return ServerTlsFiles{certs.cert(name), certs.key(name), std::nullopt};
  }
  std::shared_ptr<const sdk::net::TlsContext> client(bool with_cert = false) {
    ClientTlsFiles files{certs.ca(), std::nullopt, std::nullopt};
    if (with_cert) {
      files.cert_file = certs.cert("beta");
      files.key_file = certs.key("beta");
    }
    return must(sdk::net::make_client_tls(files));
  }
  sdk::Result<sdk::net::Response> get(const Url& url, std::shared_ptr<const sdk::net::TlsContext> tls,
                                      const std::string& name = "") {
    Request req;
    req.tls = std::move(tls);
    req.tls_name = name;
    req.target = "/v1/status";  // the daemon's; the test server answers any
    req.timeout = std::chrono::seconds(5);
    return sdk::net::request(url, req);
  }
};

TEST_F(Tls, ClientVerifiesTheServerAndTalks) {
  TlsServer server(must(sdk::net::make_server_tls(server_files())));
  auto ok = get(server.url(), client());
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "hello");
  // A DNS name in the certificate works as well as its IP.
  auto by_name = get(server.url("localhost"), client());
  EXPECT_TRUE(by_name.ok()) << by_name.message();

  // Kept alive: many requests on one TLS session.
  sdk::net::Connection connection(server.url());
  for (int i = 0; i < 3; ++i) {
    Request req;
    req.tls = client();
    auto r = connection.request(req);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->body, "hello");
  }
}

TEST_F(Tls, ClientRefusesAnUntrustedOrMisnamedServer) {
  TlsServer wrong_name(must(sdk::net::make_server_tls(server_files("wrong-name"))));
  auto misnamed = get(wrong_name.url(), client());
  ASSERT_FALSE(misnamed.ok());
  EXPECT_TRUE(has(misnamed.message(), "TLS handshake failed: the server's certificate is refused"))
      << misnamed.message();
  EXPECT_TRUE(has(misnamed.message(), "mismatch")) << misnamed.message();
  EXPECT_TRUE(has(misnamed.message(), "verified name '127.0.0.1'")) << misnamed.message();

  TlsServer other_ca(must(sdk::net::make_server_tls(server_files("other"))));
  auto untrusted = get(other_ca.url(), client());
  ASSERT_FALSE(untrusted.ok());
  EXPECT_TRUE(has(untrusted.message(), "unable to get local issuer certificate")) << untrusted.message();

  // The name to verify can differ from the host dialled (tandemctl on loopback
  // checks the node's own address), and is then what must match.
  TlsServer alpha(must(sdk::net::make_server_tls(server_files())));
  auto other_name = get(alpha.url(), client(), "beta.example");
  ASSERT_FALSE(other_name.ok());
  EXPECT_TRUE(has(other_name.message(), "verified name 'beta.example'")) << other_name.message();
}

TEST_F(Tls, PlainAndTlsDoNotMix) {
  TlsServer server(must(sdk::net::make_server_tls(server_files())));
  Url plain = server.url();
  plain.scheme = sdk::net::Scheme::http;
  // Plain HTTP to the HTTPS API: a plain 400 saying to use https, nothing served.
  auto r = sdk::net::request(plain, Request{});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(has(r->body, "this API speaks HTTPS")) << r->body;

  HttpServerOptions o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  HttpServer clear(o, [](HttpRequest&&, HttpResponder respond) { respond(json_error(200, "clear")); });
  clear.start();
  auto over_tls = get(Url{sdk::net::Scheme::https, "127.0.0.1", clear.port(), ""}, client());
  ASSERT_FALSE(over_tls.ok());
  EXPECT_TRUE(has(over_tls.message(), "TLS handshake failed")) << over_tls.message();
}

TEST_F(Tls, MutualTlsRequiresAClientCertificateFromTheCa) {
  auto files = server_files();
  files.client_ca_file = certs.ca();
  TlsServer server(must(sdk::net::make_server_tls(files)));
  auto without = get(server.url(), client(false));
  EXPECT_FALSE(without.ok()) << "served a client without a certificate";
  auto with = get(server.url(), client(true));
  ASSERT_TRUE(with.ok()) << with.message();
  EXPECT_EQ(with->body, "hello");

  // A certificate from another CA is no better than none.
  auto foreign = must(sdk::net::make_client_tls({certs.ca(), certs.cert("other"), certs.key("other")}));
  EXPECT_FALSE(get(server.url(), foreign).ok());
}

// A client resuming its TLS session with a server that requires client
// certificates (HAProxy's health checks do, each check a new connection):
// the resumed handshake must succeed. Without a session id context OpenSSL
// answered every resumption with an internal-error alert.
TEST_F(Tls, MutualTlsResumesASession) {
  auto files = server_files();
  files.client_ca_file = certs.ca();
  TlsServer server(must(sdk::net::make_server_tls(files)));
  sdk::testing::TempDir dir("tandem-tls-resume");
  const auto session = (dir.path() / "session.pem").string();
  auto s_client = [&](const std::string& session_flag) {
    sdk::ProcessSpec spec;
    spec.argv = {"openssl",  "s_client",
                 "-connect", "127.0.0.1:" + std::to_string(server.port()),
                 "-CAfile",  certs.ca().string(),
                 "-cert",    certs.cert("beta").string(),
                 "-key",     certs.key("beta").string(),
                 "-tls1_2",  session_flag,
                 session};
    spec.timeout = std::chrono::seconds(20);
    auto r = sdk::run_process(spec);
    if (!r) throw std::runtime_error(r.message());
    return r->stdout_text + r->stderr_text;
  };
  const std::string first = s_client("-sess_out");
  ASSERT_TRUE(has(first, "Verify return code: 0 (ok)")) << first;
  const std::string resumed = s_client("-sess_in");
  EXPECT_TRUE(has(resumed, "Reused, TLSv1.2")) << resumed;
  EXPECT_FALSE(has(resumed, "alert")) << resumed;
}

TEST_F(Tls, EachBadFileIsRefusedNamingItAndTheFix) {
  const std::string dir = certs.dir().string();
  auto refusal = [](sdk::Result<std::shared_ptr<const sdk::net::TlsContext>> r) {
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.message();
  };
  EXPECT_EQ(refusal(sdk::net::make_server_tls(server_files("expired"))),
            dir +
                "/expired.pem holds a certificate that expired on 2002-01-01 00:00 UTC; issue a new certificate "
                "(the peer and clients refuse an expired one)");
  EXPECT_EQ(refusal(sdk::net::make_server_tls({certs.cert("alpha"), certs.key("beta"), std::nullopt})),
            dir + "/beta.key is not the key of the certificate " + dir +
                "/alpha.pem; give the key the certificate was issued for");
  EXPECT_EQ(refusal(sdk::net::make_server_tls({certs.dir() / "nope.pem", certs.key("alpha"), std::nullopt})),
            dir + "/nope.pem does not exist; put the certificate (PEM) there");
  EXPECT_EQ(refusal(sdk::net::make_client_tls({certs.dir() / "missing-ca.pem", std::nullopt, std::nullopt})),
            dir + "/missing-ca.pem does not exist; put the CA certificate (PEM) there");
  // A key file others can read is refused as load_secret_file refuses any secret.
  ::chmod(certs.key("alpha").c_str(), 0644);
  EXPECT_EQ(refusal(sdk::net::make_server_tls(server_files())),
            dir + "/alpha.key can be read by group or others; run: chmod 600 " + dir + "/alpha.key");
  // Not PEM at all: a key given where the certificate belongs.
  EXPECT_EQ(refusal(sdk::net::make_server_tls({certs.key("beta"), certs.key("beta"), std::nullopt})),
            dir + "/beta.key holds no PEM certificate (-----BEGIN CERTIFICATE-----); name the certificate file");
  EXPECT_EQ(sdk::net::check_certificate_names(certs.cert("wrong-name"), "10.0.0.1").message(),
            dir +
                "/wrong-name.pem does not name '10.0.0.1' in its subjectAltName, so clients reaching this node "
                "there refuse it; issue it with subjectAltName IP:10.0.0.1");
  EXPECT_TRUE(sdk::net::check_certificate_names(certs.cert("alpha"), "localhost").ok());
}

// A node's config with TLS on both channels; `edit` changes a line.
class TlsConfig : public Tls {
 protected:
  sdk::testing::TempDir dir{"tandem-tls-config"};
  fs::path write(const std::string& replace_from = "", const std::string& replace_to = "") {
    std::ofstream(dir.path() / "peer-token") << "peer-token\n";
    fs::permissions(dir.path() / "peer-token", fs::perms::owner_read | fs::perms::owner_write);
    std::string text = "[node]\nname = \"alpha\"\naddress = \"127.0.0.1\"\nrole = \"primary\"\ndata_dir = \"" +
                       (dir.path() / "data").string() +
                       "\"\n\n[peer]\nname = \"beta\"\naddress = \"127.0.0.1\"\napi_url = \"https://127.0.0.1:1\"\n"
                       "token_file = \"peer-token\"\nca_file = \"" +
                       certs.ca().string() + "\"\ntls_cert_file = \"" + certs.cert("alpha").string() +
                       "\"\ntls_key_file = \"" + certs.key("alpha").string() +
                       "\"\n\n[api]\nlisten = \"127.0.0.1:" + std::to_string(sdk::testing::free_port()) +
                       "\"\ntls_cert_file = \"" + certs.cert("alpha").string() + "\"\ntls_key_file = \"" +
                       certs.key("alpha").string() + "\"\ntls_client_ca_file = \"" + certs.ca().string() + "\"\n";
    if (!replace_from.empty()) {
      auto at = text.find(replace_from);
      if (at == std::string::npos) throw std::runtime_error("no '" + replace_from + "' in the config");
      text.replace(at, replace_from.size(), replace_to);
    }
    std::ofstream(dir.path() / "tandem.toml") << text;
    return dir.path() / "tandem.toml";
  }
  // --check's errors, and what the daemon says when started on the same file.
  std::pair<std::string, std::string> check_and_start(const fs::path& file) {
    std::string check;
    for (const auto& e : check_config_file(file).errors) check += e + "\n";
    auto loaded = load_host_config(file);
    if (auto* e = std::get_if<ConfigErrors>(&loaded)) return {check, e->joined()};
    auto daemon = TandemDaemon::from_config(std::get<HostConfig>(loaded));
    return {check, daemon ? "" : daemon.message() + "\n"};
  }
};

TEST_F(TlsConfig, AGoodConfigPassesAndTheDaemonServesHttps) {
  auto file = write();
  auto [check, start] = check_and_start(file);
  EXPECT_EQ(check, "");
  EXPECT_EQ(start, "");
  auto loaded = std::get<HostConfig>(load_host_config(file));
  auto daemon = TandemDaemon::from_config(loaded);
  ASSERT_TRUE(daemon.ok()) << daemon.message();
  (*daemon)->start();
  Url url{sdk::net::Scheme::https, "127.0.0.1", loaded.api.port, ""};
  auto ok = get(url, client(/*with_cert=*/true));
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->status, 200);
  EXPECT_FALSE(get(url, client(false)).ok()) << "tls_client_ca_file: a client without a certificate was served";
  (*daemon)->stop();
}

TEST_F(TlsConfig, EveryBadFileIsRefusedAtCheckAndAtStartWithItsKeysLine) {
  const std::string d = certs.dir().string();
  struct Case {
    std::string from, to, expected;
  };
  std::vector<Case> cases = {
      {"api]\nlisten", "api]\nlisten", ""},
      {certs.cert("alpha").string() + "\"\ntls_key_file = \"" + certs.key("alpha").string() + "\"\ntls_client",
       certs.cert("expired").string() + "\"\ntls_key_file = \"" + certs.key("expired").string() + "\"\ntls_client",
       ":18:17: [api] tls_cert_file " + d + "/expired.pem holds a certificate that expired on 2002-01-01 00:00 UTC"},
      {certs.cert("alpha").string() + "\"\ntls_key_file = \"" + certs.key("alpha").string() + "\"\ntls_client",
       certs.cert("wrong-name").string() + "\"\ntls_key_file = \"" + certs.key("wrong-name").string() +
           "\"\ntls_client",
       ":18:17: [api] tls_cert_file " + d + "/wrong-name.pem does not name '127.0.0.1' in its subjectAltName"},
      {"tls_key_file = \"" + certs.key("alpha").string() + "\"\ntls_client",
       "tls_key_file = \"" + certs.key("beta").string() + "\"\ntls_client",
       ":19:16: [api] tls_key_file " + d + "/beta.key is not the key of the certificate " + d + "/alpha.pem"},
      {"ca_file = \"" + certs.ca().string() + "\"\ntls_cert",
       "ca_file = \"" + (certs.dir() / "gone.pem").string() + "\"\ntls_cert",
       ":12:11: [peer] ca_file " + d + "/gone.pem does not exist; put the CA certificate (PEM) there"},
      {"tls_client_ca_file = \"" + certs.ca().string(), "tls_client_ca_file = \"" + d + "/alpha.key",
       ":20:22: [api] tls_client_ca_file " + d + "/alpha.key holds no PEM certificate"},
  };
  for (const auto& c : cases) {
    auto file = write(c.from, c.to);
    auto [check, start] = check_and_start(file);
    if (c.expected.empty()) {
      EXPECT_EQ(check, "");
      continue;
    }
    EXPECT_TRUE(has(check, file.string() + c.expected)) << check;
    EXPECT_EQ(check.find('\n'), check.size() - 1) << "one problem, one line: " << check;
    EXPECT_EQ(start, check) << "the daemon must refuse what --check refuses, with the same words";
  }
  // A world-readable key: both places it is named are reported.
  ::chmod(certs.key("alpha").c_str(), 0640);
  auto [check, start] = check_and_start(write());
  EXPECT_TRUE(has(check, ":14:16: [peer] tls_key_file " + d +
                             "/alpha.key can be read by group or others; run: "
                             "chmod 600 " +
                             d + "/alpha.key"))
      << check;
  EXPECT_TRUE(has(check, ":19:16: [api] tls_key_file ")) << check;
  EXPECT_TRUE(has(start, "can be read by group or others")) << start;
}

}  // namespace
}  // namespace tandem::core
