#include "api/connection_admission.h"

#include <algorithm>
#include <initializer_list>

namespace tandem::core {

ConnectionTable::Decision ConnectionTable::admit(Id id, const std::string& address, bool trusted,
                                                 const std::function<bool(Id)>& has_bytes) {
  has_bytes_ = has_bytes;
  struct Reset {
    std::function<bool(Id)>& f;
    ~Reset() { f = nullptr; }
  } reset{has_bytes_};
  Decision d;
  // Victims are chosen first and only removed when the newcomer is admitted:
  // a refusal closes nobody else.
  int total = size();
  int untrusted = untrusted_;
  auto it = per_address_.find(address);
  int from_address = it == per_address_.end() ? 0 : it->second;
  // The first idle connection found trying the kinds in order (untrusted
  // ones go first: closing them costs the pair nothing).
  auto pick = [&](std::initializer_list<Kind> kinds, const std::string* addr) -> Id {
    for (Kind k : kinds)
      if (Id victim = idle_victim(k, addr, d.evict)) return victim;
    return 0;
  };
  auto take = [&](Id victim) {
    const Entry& e = entries_.at(victim);
    d.evict.push_back(victim);
    --total;
    if (e.kind == Kind::untrusted) --untrusted;
    if (e.address == address) --from_address;
  };
  auto refuse = [&](std::string why) {
    d.admit = false;
    d.evict.clear();
    d.refusal = std::move(why);
    ++refusals_;
    return d;
  };
  const std::initializer_list<Kind> all = {Kind::untrusted, Kind::probation, Kind::trusted};

  if (from_address >= limits_.per_address) {
    Id victim = pick(all, &address);
    if (!victim)
      return refuse("too many connections from " + address + " (limit " + std::to_string(limits_.per_address) +
                    ", none of them idle)");
    take(victim);
  }
  Kind kind = trusted ? Kind::trusted : Kind::untrusted;
  if (kind == Kind::untrusted && untrusted >= untrusted_cap()) {
    if (Id victim = pick({Kind::untrusted}, nullptr))
      take(victim);
    else
      kind = Kind::probation;  // into the reserved share, until its headers show the token
  }
  if (total >= limits_.max_connections) {
    // One on probation may only replace another: it must not push out the
    // trusted connections the reserved share is for.
    Id victim = kind == Kind::probation ? pick({Kind::probation}, nullptr) : pick(all, nullptr);
    if (!victim)
      return refuse(kind == Kind::probation
                        ? untrusted_full()
                        : "too many connections (limit " + std::to_string(limits_.max_connections) + ", none idle)");
    take(victim);
  }

  for (Id victim : d.evict) erase(victim);
  evictions_ += d.evict.size();
  entries_[id] = Entry{address, kind, false, true, ++sequence_};
  ++per_address_[address];
  if (kind == Kind::untrusted) ++untrusted_;
  return d;
}

int ConnectionTable::untrusted_cap() const { return std::max(1, limits_.max_connections - limits_.reserved); }

void ConnectionTable::set_idle(Id id, bool idle) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  it->second.idle = idle;
  it->second.fresh = false;
  if (idle) it->second.idle_since = ++sequence_;
}

bool ConnectionTable::headers(Id id, bool trusted) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return true;
  Entry& e = it->second;
  if (trusted) {
    if (e.kind == Kind::untrusted) --untrusted_;
    e.kind = Kind::trusted;
    return true;
  }
  if (e.kind != Kind::probation) return true;
  ++refusals_;
  return false;  // stays on probation (evictable) until it is closed
}

std::string ConnectionTable::untrusted_full() const {
  return "too many connections (limit " + std::to_string(limits_.max_connections) + ", of which " +
         std::to_string(limits_.reserved) + " are kept for the peer and for requests with the API token)";
}

void ConnectionTable::remove(Id id) {
  auto it = entries_.find(id);
  bool freed_untrusted = it != entries_.end() && it->second.kind == Kind::untrusted;
  erase(id);
  // A connection is on probation only because the untrusted share was full
  // when it came. Room there makes the oldest one an ordinary untrusted
  // connection again: left in the reserved share, it would be refused at its
  // headers while an untrusted newcomer took the free slot, and the reserved
  // share (the peer's, the operator's) would hold an untrusted client.
  if (!freed_untrusted || untrusted_ >= untrusted_cap()) return;
  for (auto& [other, e] : entries_)
    if (e.kind == Kind::probation) {
      e.kind = Kind::untrusted;
      ++untrusted_;
      return;
    }
}

ConnectionTable::Id ConnectionTable::idle_victim(Kind kind, const std::string* address, const std::vector<Id>& skip) {
  Id best = 0;
  int best_count = 0;
  std::uint64_t best_seq = 0;
  for (auto& [id, e] : entries_) {
    bool candidate = e.idle || (e.fresh && has_bytes_);
    if (!candidate || e.kind != kind || (address && e.address != *address)) continue;
    if (std::find(skip.begin(), skip.end(), id) != skip.end()) continue;
    if (has_bytes_ && has_bytes_(id)) {
      // Its request is in the socket: the read handler will see it.
      e.idle = false;
      e.fresh = false;
      continue;
    }
    int count = per_address_.at(e.address);
    if (best == 0 || count > best_count || (count == best_count && e.idle_since < best_seq)) {
      best = id;
      best_count = count;
      best_seq = e.idle_since;
    }
  }
  return best;
}

void ConnectionTable::erase(Id id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second.kind == Kind::untrusted) --untrusted_;
  auto a = per_address_.find(it->second.address);
  if (a != per_address_.end() && --a->second <= 0) per_address_.erase(a);
  entries_.erase(it);
}

}  // namespace tandem::core
