#include "es_http.h"

#include <random>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "tandem/sdk/file_util.h"

namespace tandem::esrebuild {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string base64(const std::string& in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Runs the io_context until the pending async operation completes; the
// tcp_stream's expiry turns a hang into beast::error::timeout.
void run_until_done(asio::io_context& io) {
  io.restart();
  io.run();
}

}  // namespace

std::string authorization_header(const EsRebuildConfig& config) {
  if (config.api_key_file) return "ApiKey " + sdk::read_secret_file(*config.api_key_file);
  if (config.username && config.password_file)
    return "Basic " + base64(*config.username + ":" + sdk::read_secret_file(*config.password_file));
  return {};
}

EsConnection::EsConnection(std::shared_ptr<const EsTarget> target, std::size_t first_endpoint)
    : target_(std::move(target)), endpoint_(first_endpoint % target_->endpoints.size()) {
  // Beast sizes each read from the buffer's free capacity (512 bytes at
  // least, 64 KiB at most): bulk answers are large, so read in big pieces.
  buffer_.reserve(256 * 1024);
}

EsConnection::~EsConnection() { close(); }

std::string EsConnection::current_endpoint() const { return target_->endpoints[endpoint_].display(); }

void EsConnection::close() {
  if (stream_) {
    beast::error_code ec;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_->close();
    stream_.reset();
  }
  buffer_.consume(buffer_.size());
  reused_ = false;
}

sdk::Status EsConnection::connect() {
  std::string errors;
  for (std::size_t tried = 0; tried < target_->endpoints.size(); ++tried) {
    const EsEndpoint& e = target_->endpoints[endpoint_];
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto addresses = resolver.resolve(e.host, e.port, ec);
    if (!ec) {
      stream_ = std::make_unique<beast::tcp_stream>(io_);
      stream_->expires_after(target_->timeout);
      stream_->async_connect(addresses, [&](beast::error_code err, const tcp::endpoint&) { ec = err; });
      run_until_done(io_);
      if (!ec) {
        stream_->socket().set_option(tcp::no_delay(true), ec);
        return {};
      }
      stream_.reset();
    }
    errors += (errors.empty() ? "" : "; ") + e.display() + ": " + ec.message();
    endpoint_ = (endpoint_ + 1) % target_->endpoints.size();
  }
  return sdk::Status::failure("cannot connect to Elasticsearch (" + errors + ")");
}

sdk::Result<HttpResponse> EsConnection::exchange(Verb method, const std::string& path, const std::string& body,
                                                 const char* content_type) {
  const EsEndpoint& e = target_->endpoints[endpoint_];
  http::request<http::string_body> req{method, e.path_prefix + path, 11};
  req.set(http::field::host, e.host + ":" + e.port);
  req.set(http::field::user_agent, "tandem-elasticsearch-rebuild");
  req.set(http::field::accept, "application/json");
  if (!target_->authorization.empty()) req.set(http::field::authorization, target_->authorization);
  if (!body.empty()) req.set(http::field::content_type, content_type);
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();

  beast::error_code ec;
  stream_->expires_after(target_->timeout);
  http::async_write(*stream_, req, [&](beast::error_code err, std::size_t) { ec = err; });
  run_until_done(io_);
  if (ec)
    return sdk::Result<HttpResponse>::failure(method == Verb::head ? ec.message()
                                                                   : "sending " + std::string(path) + " to " +
                                                                         e.display() + ": " + ec.message());

  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  if (method == Verb::head) parser.skip(true);
  stream_->expires_after(target_->timeout);
  http::async_read(*stream_, buffer_, parser, [&](beast::error_code err, std::size_t) { ec = err; });
  run_until_done(io_);
  if (ec)
    return sdk::Result<HttpResponse>::failure("reading the answer to " + std::string(path) + " from " + e.display() +
                                              ": " + ec.message());
  auto res = parser.release();
  if (!res.keep_alive()) close();
  return HttpResponse{res.result_int(), std::move(res.body())};
}

sdk::Result<HttpResponse> EsConnection::request(Verb method, const std::string& path, const std::string& body,
                                                const char* content_type) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!stream_) {
      auto st = connect();
      if (!st) return sdk::Result<HttpResponse>::failure(st.message());
    }
    bool was_reused = reused_;
    auto r = exchange(method, path, body, content_type);
    if (r.ok()) {
      reused_ = stream_ != nullptr;
      return r;
    }
    close();
    // A kept-alive connection the server closed meanwhile: resend once on a
    // fresh one. A fresh connection failing is a real error.
    if (!was_reused) {
      endpoint_ = (endpoint_ + 1) % target_->endpoints.size();
      return r;
    }
  }
  return sdk::Result<HttpResponse>::failure("unreachable");
}

sdk::Result<HttpResponse> with_retries(const RetryPolicy& policy, const std::atomic<bool>& cancelled,
                                       const std::function<sdk::Result<HttpResponse>()>& request,
                                       const std::function<void(const std::string&)>& on_retry) {
  thread_local std::mt19937 rng(std::random_device{}());
  auto backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    auto r = request();
    std::string reason;
    if (!r.ok())
      reason = r.message();
    else if (retryable_status(r->status))
      reason = "HTTP " + std::to_string(r->status) + ": " + es_error_reason(*r);
    else
      return r;
    if (attempt >= policy.max_attempts || cancelled.load()) {
      if (!r.ok())
        return sdk::Result<HttpResponse>::failure(reason + " (gave up after " + std::to_string(attempt) + " attempts)");
      return r;
    }
    if (on_retry) on_retry(reason);
    // Full jitter in [backoff/2, backoff] spreads concurrent workers apart.
    auto half = backoff.count() / 2;
    auto sleep = std::chrono::milliseconds(
        half + std::uniform_int_distribution<long long>(0, std::max<long long>(half, 0))(rng));
    auto until = std::chrono::steady_clock::now() + sleep;
    while (std::chrono::steady_clock::now() < until && !cancelled.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long long>(50, sleep.count() + 1)));
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

std::string es_error_reason(const HttpResponse& response) {
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("error")) {
    auto& e = doc["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object()) {
      std::string type = e.value("type", ""), reason = e.value("reason", "");
      return type.empty() ? reason : type + ": " + reason;
    }
  }
  return response.body.substr(0, 200);
}

}  // namespace tandem::esrebuild
