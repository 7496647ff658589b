// A subscribed client's own connection to the active Redis (this node's, the
// primary's): pub/sub is per connection state in Redis, so it cannot ride on
// the links all clients share. It speaks the client's protocol (RESP2 arrays
// or RESP3 push frames), so every frame Redis sends is passed to the client
// byte for byte.
//
// It knows the client's subscriptions from Redis's own confirmations, which
// tells the session whether the client is in Redis's subscribed mode (RESP2
// then allows only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT, RESET).
// Owned by its Session, on the endpoint's io thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "backend_link.h"
#include "op.h"
#include "resp.h"
#include "settings.h"

namespace tandem::kv {

class PubSubConnection {
 public:
  struct Hooks {
    std::function<void(std::string_view frame)> message;  // a published message (message/pmessage/smessage)
    std::function<void(Op&)> progressed;                  // an op got all its frames (it is done)
    std::function<void(const std::string& why)> failed;   // the connection is gone: the client must resubscribe
  };
  PubSubConnection(boost::asio::io_context& io, const Settings& settings, const std::string& password, int proto,
                   Hooks hooks);
  ~PubSubConnection() { stop(); }
  PubSubConnection(const PubSubConnection&) = delete;
  PubSubConnection& operator=(const PubSubConnection&) = delete;

  // Sends `cmd` (a pub/sub command, or in RESP2 subscribed mode any command,
  // which Redis answers with one frame) for `op`: op->reply collects the
  // frames Redis answers it with, op->done once all came. Queued until the
  // connection is up.
  void send(const std::shared_ptr<Op>& op, const RespParser& cmd);
  // Redis will have the client subscribed when the commands sent so far ran:
  // a subscription confirmed and not unsubscribed, or a SUBSCRIBE sent.
  bool subscribed() const { return !channels_.empty() || !patterns_.empty() || !shards_.empty() || subscribing_ > 0; }
  // An UNSUBSCRIBE is not answered yet: whether the client stays subscribed is not known.
  bool unsubscribing() const { return unsubscribing_ > 0; }
  // Confirmed subscriptions (CLIENT LIST's sub, psub, ssub).
  std::size_t channel_count() const { return channels_.size(); }
  std::size_t pattern_count() const { return patterns_.size(); }
  std::size_t shard_count() const { return shards_.size(); }
  bool idle() const { return pending_.empty() && queued_.empty(); }
  // Bytes of Redis's frames held here (a frame not complete yet).
  std::size_t buffered() const { return link_->buffered(); }
  // After HELLO changed the client's protocol: Redis's frames follow it
  // (HELLO's own reply, which the endpoint answered itself, is dropped).
  void switch_proto(int proto);
  // Closes the connection, calls no hook any more; ops still waiting for
  // frames are done with what they got (the client is being closed).
  void stop();

 private:
  enum class Family : std::uint8_t { none, channel, pattern, shard };
  struct Pending {
    std::shared_ptr<Op> op;        // null: a frame nobody reads (switch_proto)
    Family family = Family::none;  // of a (P|S)(UN)SUBSCRIBE
    bool subscribe = false;        // (P|S)SUBSCRIBE
    bool all = false;              // an UNSUBSCRIBE without arguments: one frame per subscription (or one)
    std::size_t frames = 1;        // frames still expected
    bool counted = false;          // in subscribing_ / unsubscribing_
  };
  void on_frame(const RespParser& frame);
  void on_up();
  void queue(Pending p, std::string_view bytes);
  void finish_front();
  // The front op's frame count once every earlier frame was seen.
  void settle_front();
  std::set<std::string>& subscriptions(Family f);

  std::shared_ptr<BackendLink> link_;
  Hooks hooks_;
  bool up_ = false;
  bool stopped_ = false;
  std::string queued_;  // requests until the link is up
  std::deque<Pending> pending_;
  std::set<std::string> channels_, patterns_, shards_;
  std::size_t subscribing_ = 0;    // SUBSCRIBEs with channels sent, not answered
  std::size_t unsubscribing_ = 0;  // UNSUBSCRIBEs sent, not answered
};

// The (P|S)(UN)SUBSCRIBE commands (upper case): they take the connection.
bool is_subscription_command(std::string_view upper_name);

}  // namespace tandem::kv
