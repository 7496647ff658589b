#include "tcp_connect.h"

#include <boost/asio/connect.hpp>

namespace tandem::kv {

using boost::asio::ip::tcp;

void async_connect_tcp(tcp::resolver& resolver, tcp::socket& socket, const std::string& host, int port,
                       std::function<void(const std::string& why)> done) {
  resolver.async_resolve(host, std::to_string(port),
                         [&socket, host, done = std::move(done)](const boost::system::error_code& ec,
                                                                 tcp::resolver::results_type results) mutable {
                           if (ec) return done("cannot resolve " + host + ": " + ec.message());
                           boost::asio::async_connect(socket, results,
                                                      [&socket, done = std::move(done)](
                                                          const boost::system::error_code& ec2, const tcp::endpoint&) {
                                                        if (ec2) return done("cannot connect: " + ec2.message());
                                                        boost::system::error_code ignored;
                                                        socket.set_option(tcp::no_delay(true), ignored);
                                                        done("");
                                                      });
                         });
}

}  // namespace tandem::kv
