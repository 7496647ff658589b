// Which connections the API keeps when there are too many. A flood of idle
// connections must not lock out the peer's status poll or an operator's
// authenticated request, so a full table makes room by closing an idle
// connection (of the address holding the most, the one that has waited
// longest for a request) instead of refusing the newcomer, one address can
// hold only so many, and a share of the table is kept for trusted
// connections (from the [peer] address, or whose request carried the valid
// token) that untrusted ones cannot fill.
//
// Pure bookkeeping without sockets or clocks, so it is tested directly; the
// HTTP server applies its decisions (api/http_server.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/api_limits.h"

namespace tandem::core {

class ConnectionTable {
 public:
  using Id = std::uint64_t;

  struct Decision {
    bool admit = true;
    std::vector<Id> evict;  // close these (they were idle); already removed from the table
    std::string refusal;    // why not admitted: names the limit that was hit
  };

  explicit ConnectionTable(AdmissionLimits limits) : limits_(limits) {}

  // A new connection from `address`. Admitted connections start fresh: the
  // server has not looked at them yet. A fresh connection is closed for a
  // newcomer only when has_bytes (below) says nothing has arrived on it: a
  // client that connected and sent its request at once is never closed
  // before the server had a chance to read it, while a flood's sockets
  // admitted faster than the server gets to them (a loaded machine) cannot
  // fill the table with connections that nothing may close.
  //
  // Whether a newcomer holds the token is unknown until its headers are in.
  // When the untrusted share is full and none of it is idle, it is admitted
  // on probation into the reserved share: headers() then keeps it only if
  // its request turns out trusted.
  //
  // has_bytes(id), when given, tells whether bytes of a request have arrived
  // on a connection still marked idle or fresh (its read handler has not run
  // yet, e.g. on a busy machine): such a connection is not idle and is never
  // chosen as a victim. Without it, fresh connections are never chosen.
  Decision admit(Id id, const std::string& address, bool trusted, const std::function<bool(Id)>& has_bytes = {});
  // Idle: waiting for a request, no byte of it received yet. Either way the
  // connection is no longer fresh: the server has looked at it.
  void set_idle(Id id, bool idle);
  // A request's headers are in; trusted: it carried the valid token (the
  // connection stays trusted). False: close it, it was on probation and is
  // not trusted (its request is answered 503).
  bool headers(Id id, bool trusted);
  // The connection is gone. When it held an untrusted slot, the oldest
  // connection on probation (if any) takes it.
  void remove(Id id);
  // The 503 text for a request refused by headers().
  std::string untrusted_full() const;

  int size() const { return static_cast<int>(entries_.size()); }
  int untrusted() const { return untrusted_; }
  std::uint64_t evictions() const { return evictions_; }
  std::uint64_t refusals() const { return refusals_; }

 private:
  // untrusted: in the untrusted share. probation: admitted into the reserved
  // share before its headers were in. trusted: the peer's address or the token.
  enum class Kind { untrusted, probation, trusted };
  struct Entry {
    std::string address;
    Kind kind = Kind::untrusted;
    bool idle = false;
    bool fresh = true;             // not looked at by the server yet (set_idle not called)
    std::uint64_t idle_since = 0;  // sequence number: lower waited longer
  };

  // The idle connection of that kind (and address, when given) to close,
  // skipping `skip`; 0 if none. Ids start at 1. Of the address holding the
  // most connections, the one that has waited longest: a flood reopening
  // hundreds of sockets turns the table over every few milliseconds, and
  // choosing by age alone would close a quiet client's one connection before
  // its first bytes (a TLS ClientHello on a loaded machine) arrive.
  // Fresh connections count as idle when has_bytes_ says none arrived.
  // Marks a connection with bytes waiting (has_bytes_) as not idle.
  Id idle_victim(Kind kind, const std::string* address, const std::vector<Id>& skip);
  void erase(Id id);
  int untrusted_cap() const;  // slots of the untrusted share

  AdmissionLimits limits_;
  std::function<bool(Id)> has_bytes_;  // set during admit() only
  std::map<Id, Entry> entries_;
  std::map<std::string, int> per_address_;
  int untrusted_ = 0;  // entries of Kind::untrusted
  std::uint64_t sequence_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t refusals_ = 0;
};

}  // namespace tandem::core
