// tandem_es_standin: a small HTTP server speaking the subset of the
// Elasticsearch REST API the elasticsearch-rebuild plugin uses, for tests,
// benchmarks and the demo (no real Elasticsearch can be installed here).
//
//   tandem_es_standin --port N [--host 127.0.0.1] [--no-sources | --discard-documents] [--faults JSON]
//
// --no-sources keeps ids but not bodies; --discard-documents (benchmarks only)
// only counts documents, so the stand-in's cost stays negligible.
//
// One thread per connection (clients keep connections alive), one lock over
// the data; the bulk path is parser-free for the common action shape.
#include <malloc.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "es_store.h"
#include "router.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

void serve_connection(tcp::socket socket, tandem::esstandin::Router& router) {
  // A roomy buffer makes Beast read up to 64 KiB per call instead of 512 bytes
  // (it sizes reads from the free capacity): bulk bodies are megabytes.
  beast::flat_buffer buffer;
  buffer.reserve(256 * 1024);
  beast::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(512u << 20);  // Elasticsearch's http.max_content_length is 100mb; be lenient
    http::read(socket, buffer, parser, ec);
    if (ec) break;
    auto& req = parser.get();
    tandem::esstandin::Reply reply;
    try {
      reply = router.handle(req.method(), std::string_view(req.target().data(), req.target().size()), req.body());
    } catch (const std::exception& e) {
      reply = tandem::esstandin::es_error(500, "exception", e.what());
    }
    http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::content_type, "application/json");
    res.set("X-elastic-product", "Elasticsearch");
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = std::move(reply.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "tandem_es_standin: " << why << "\n"
            << "usage: tandem_es_standin --port N [--host ADDR] [--no-sources | --discard-documents] [--faults JSON]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", faults;
  int port = -1;
  tandem::esstandin::StoreOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--port")
      port = std::atoi(next().c_str());
    else if (arg == "--host")
      host = next();
    else if (arg == "--no-sources")
      options.keep_sources = false;
    else if (arg == "--discard-documents")
      options.discard_documents = true;
    else if (arg == "--faults")
      faults = next();
    else
      usage("unknown argument '" + arg + "'");
  }
  if (port < 0 || port > 65535) usage("--port is required (0..65535)");
  // Bulk bodies and answers are megabytes: keep freed blocks for reuse instead
  // of an mmap/munmap (and a page fault per page) for every request.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);

  tandem::esstandin::EsStore store(options);
  if (!faults.empty()) {
    auto r = store.set_faults(faults);
    if (r.status != 200) usage("bad --faults: " + r.body);
  }
  tandem::esstandin::Router router(store);
  try {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port)));
    std::cout << "es-standin listening on http://" << host << ":" << acceptor.local_endpoint().port() << std::endl;
    for (;;) {
      tcp::socket socket(io);
      acceptor.accept(socket);
      socket.set_option(tcp::no_delay(true));
      std::thread(serve_connection, std::move(socket), std::ref(router)).detach();
    }
  } catch (const std::exception& e) {
    std::cerr << "tandem_es_standin: " << e.what() << "\n";
    return 1;
  }
}
