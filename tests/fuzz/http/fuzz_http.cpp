// Fuzz target: tandemd's HTTP request handling. The bytes are parsed as the
// API server parses a connection's input (Boost.Beast, the server's header
// and body limits), and a complete request is handed to the API routes
// (core/src/api/api_routes.cpp) of a node with no stores and an API token
// ("fuzz-token", in the seed corpus, so authorized paths are reached too).
//
// Invariants: the routes never throw (the server would answer 500 with the
// exception's text); an answer given at once is never a 500 (with no stores
// there is nothing that may fail internally), and its body is JSON or the
// metrics page.
#include <unistd.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "api/api_routes.h"
#include "fuzz_check.h"
#include "host/node_runtime.h"

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using namespace tandem;

struct Node {
  fs::path dir;
  std::unique_ptr<core::NodeRuntime> runtime;
  std::unique_ptr<core::ApiRoutes> routes;

  Node() {
    fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("tandem-fuzz-http-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    // Nobody listens on port 1: the peer is unreachable.
    runtime = std::make_unique<core::NodeRuntime>(sdk::NodeIdentity{"alpha", "10.0.0.1", dir / "data"},
                                                  sdk::PeerInfo{"beta", "10.0.0.2", "http://127.0.0.1:1"}, "",
                                                  sdk::Role::secondary);
    routes = std::make_unique<core::ApiRoutes>(*runtime, core::BearerAuth(std::string("fuzz-token")));
    // Run the event loop as tandemd does: a promote's call to the peer then
    // fails at once instead of waiting on a loop nobody runs.
    runtime->start();
  }
  ~Node() {
    if (!runtime->shutdown()) {
      // A step still runs on a detached thread (tandemd would _Exit here):
      // keep what it uses alive rather than destroy it under that thread.
      (void)routes.release();
      (void)runtime.release();
    }
    routes.reset();
    runtime.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Node& node() {
  static Node n;
  return n;
}

void check_answer(const core::HttpResponse& res) {
  FUZZ_CHECK(res.result_int() < 500, "no internal error for a request to a node without stores");
  auto type = res[http::field::content_type];
  if (type.starts_with("application/json"))
    FUZZ_CHECK(!nlohmann::json::parse(res.body(), nullptr, false).is_discarded(), "a JSON answer is JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Node& n = node();
  // The same limits as HttpServerOptions' defaults.
  const core::HttpServerOptions limits;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  parser.body_limit(limits.body_limit);
  parser.eager(true);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < size) used += parser.put(boost::asio::buffer(data + used, size - used), ec);
  // The server only sees an end of stream after some bytes (Beast asserts that).
  if (parser.got_some() && (ec == http::error::need_more || (!ec && !parser.is_done()))) {
    ec = {};
    parser.put_eof(ec);
  }
  if (ec || !parser.is_done()) return 0;  // the server answers 400/413/431 and closes

  const std::thread::id caller = std::this_thread::get_id();
  // Answers from the failover thread (a promote the fuzzer authorized) may
  // legitimately report a failure; only the immediate ones are checked.
  n.routes->handle(parser.release(), [caller](core::HttpResponse res) {
    if (std::this_thread::get_id() == caller) check_answer(res);
  });
  return 0;
}
