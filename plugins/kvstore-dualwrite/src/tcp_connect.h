// Resolving and connecting a socket to a Redis server, for the endpoint's
// connections (backend links, the replication tap). The caller bounds the
// time (its connect timer also covers its handshake) and drops a late answer
// by its own generation check.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace tandem::kv {

// Resolves host:port and connects `socket` (TCP_NODELAY on success), then
// calls done("") or done(why). `socket` and `resolver` must outlive the call;
// `done` is called once, on the socket's executor.
void async_connect_tcp(boost::asio::ip::tcp::resolver& resolver, boost::asio::ip::tcp::socket& socket,
                       const std::string& host, int port, std::function<void(const std::string& why)> done);

}  // namespace tandem::kv
