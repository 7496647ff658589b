// Session's pub/sub: a client that subscribes gets its own connection to the
// primary's Redis (pubsub_connection.h); README "Pub/sub" says why and what
// PUBLISH does.
#include <boost/asio/post.hpp>
#include <cctype>

#include "command_table.h"
#include "dispatcher.h"
#include "plugin_util.h"
#include "pubsub_connection.h"
#include "session.h"
#include "settings.h"

namespace tandem::kv {

namespace {

// One frame of Redis's answer to an UNSUBSCRIBE of a client that never
// subscribed: [kind, channel or null, 0], an array (RESP2) or a push (RESP3).
void append_unsubscribed(std::string& out, int proto, std::string_view kind, const std::string_view* channel) {
  out += proto == 3 ? ">3\r\n" : "*3\r\n";
  append_bulk(out, kind);
  if (channel)
    append_bulk(out, *channel);
  else
    out += proto == 3 ? "_\r\n" : "$-1\r\n";
  out += ":0\r\n";
}

// Redis sends subscription confirmations, and the messages after them, even
// to a client that silenced its replies (CLIENT REPLY OFF or SKIP): they are
// pushes, not replies.
void keep_pushes(Op& op, std::string_view upper_name) {
  if (is_subscription_command(upper_name)) op.silent = false;
}

}  // namespace

bool Session::forward_in_subscribed_mode() {
  // Redis's subscribed mode exists in RESP2 only: every command but QUIT
  // and RESET (the endpoint's own) goes to the client's connection, where
  // Redis answers it as it would (a refusal in its own words, an unknown
  // command or arity error first, PING as [pong, msg]). Nothing there can
  // change data: Redis refuses every other command in this mode.
  if (!pubsub_ || proto_ != 2 || in_multi_ || !pubsub_->subscribed()) return false;
  const std::string name = to_upper(parser_.element(0));
  if (name == "QUIT" || name == "RESET") return false;
  auto op = new_op(OpKind::local);
  op->own_connection = true;
  keep_pushes(*op, name);
  pubsub_->send(op, parser_);
  return true;
}

void Session::handle_subscription(std::string_view name) {
  if (!pubsub_) {
    if (name.find("UNSUBSCRIBE") != std::string_view::npos) {
      // Nothing subscribed: Redis's answer needs no connection.
      std::string r;
      const std::string kind = to_lower(name);
      if (parser_.size() == 1) append_unsubscribed(r, proto_, kind, nullptr);
      for (std::size_t i = 1; i < parser_.size(); ++i) {
        std::string_view channel = parser_.element(i);
        append_unsubscribed(r, proto_, kind, &channel);
      }
      reply_now(std::move(r));
      return keep_pushes(*ops_.back(), name);
    }
    std::weak_ptr<Session> weak = weak_from_this();
    pubsub_ = std::make_unique<PubSubConnection>(
        static_cast<boost::asio::io_context&>(socket_.get_executor().context()), d_.settings(),
        d_.secrets().local_password, proto_,
        PubSubConnection::Hooks{[weak](std::string_view frame) {
                                  if (auto self = weak.lock()) self->on_pubsub_message(frame);
                                },
                                [weak](Op& op) {
                                  if (auto self = weak.lock()) {
                                    self->pubsub_confirmed_seq_ = op.seq;
                                    self->pump();
                                  }
                                },
                                [weak](const std::string& why) {
                                  if (auto self = weak.lock()) {
                                    self->d_.note_client_event("subscriber " + self->remote_ +
                                                               " disconnected: its connection to the local Redis "
                                                               "failed (" +
                                                               why + ")");
                                    self->close();
                                  }
                                }});
  }
  auto op = new_op(OpKind::local);
  op->own_connection = true;
  keep_pushes(*op, name);
  pubsub_->send(op, parser_);
}

bool Session::must_wait_for_pubsub() const {
  if (!pubsub_ || parser_.size() == 0 || parser_.element_type(0) != RespType::string) return false;
  const std::string name = to_upper(parser_.element(0));
  // RESET drops the connection and HELLO switches its protocol: after
  // everything sent on it was answered.
  if (name == "RESET" || name == "HELLO") return !pubsub_->idle();
  // Whether this command is refused (subscribed mode) depends on how an
  // UNSUBSCRIBE still in flight ends.
  return proto_ == 2 && pubsub_->unsubscribing() && !is_subscription_command(name);
}

void Session::on_pubsub_message(std::string_view frame) {
  if (closed_) return;
  // After the newest confirmation of a subscription: in that op's reply while
  // it waits for earlier replies, else to the client now.
  Op* host = nullptr;
  if (pubsub_confirmed_seq_ != 0 && !ops_.empty() && ops_.front()->seq <= pubsub_confirmed_seq_) {
    for (auto& op : ops_)
      if (op->seq == pubsub_confirmed_seq_) {
        host = op.get();
        break;
      }
  }
  if (host) {
    host->reply.append(frame);
    enforce_output_limit(host->reply.size());
    return;
  }
  std::string piece(frame);
  queue_out(piece);
  if (!enforce_output_limit(0)) schedule_flush();
}

void Session::end_pubsub() {
  if (!pubsub_) return;
  pubsub_->stop();  // its waiting ops are done now; pump() takes them
  pubsub_confirmed_seq_ = 0;
  soft_limit_since_ = {};
  // Destroyed later: this may run inside one of its own callbacks.
  boost::asio::post(socket_.get_executor(), [p = std::move(pubsub_), self = shared_from_this()]() mutable {
    p.reset();
    self->pump();
  });
}

bool Session::subscribed() const { return pubsub_ && pubsub_->subscribed(); }

const OutputBufferLimit& Session::output_limit() const {
  return subscribed() ? d_.settings().pubsub_output : d_.settings().client_output;
}

std::size_t Session::held_for_client(std::size_t held) const {
  return unsent_bytes() + held + (pubsub_ ? pubsub_->buffered() : 0);
}

std::string Session::output_limit_exceeded(std::size_t held) {
  // Redis's client-output-buffer-limit of the client's class: a hard limit,
  // and a soft one held for a while.
  const std::size_t unsent = held_for_client(held);
  const OutputBufferLimit& limit = output_limit();
  const bool pubsub = subscribed();
  const std::string key = pubsub ? "pubsub_output_buffer_" : "client_output_buffer_";
  const std::string what = pubsub ? " bytes of messages unread" : " bytes of replies unread";
  if (unsent > limit.hard)
    return std::to_string(unsent) + what + " (" + key + "limit " + std::to_string(limit.hard) + ")";
  if (unsent <= limit.soft) {
    soft_limit_since_ = {};
    return "";
  }
  const auto now = std::chrono::steady_clock::now();
  if (soft_limit_since_ == std::chrono::steady_clock::time_point{}) {
    soft_limit_since_ = now;
    arm_soft_limit_timer();
  }
  if (now - soft_limit_since_ < limit.soft_time) return "";
  return std::to_string(unsent) + what + " for " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - soft_limit_since_).count()) +
         " ms (" + key + "soft_limit " + std::to_string(limit.soft) + ", " + key + "soft_time " +
         std::to_string(limit.soft_time.count()) + " ms)";
}

void Session::arm_soft_limit_timer() {
  soft_limit_timer_.expires_at(soft_limit_since_ + output_limit().soft_time);
  soft_limit_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || self->soft_limit_since_ == std::chrono::steady_clock::time_point{}) return;
    // Still above: disconnected now, or (the clock restarted meanwhile) later.
    if (!self->enforce_output_limit(0) && self->soft_limit_since_ != std::chrono::steady_clock::time_point{})
      self->arm_soft_limit_timer();
  });
}

void Session::on_write_progress(std::size_t remaining) {
  const bool was_paced = paced();
  writing_bytes_ = remaining;
  if (closed_) return;
  // Read below its soft limit: the soft limit's clock stops (Redis's "for
  // soft_time continuously"), and a paced client is read again.
  if (soft_limit_since_ != std::chrono::steady_clock::time_point{} && held_for_client(0) <= output_limit().soft)
    soft_limit_since_ = {};
  if (was_paced && !paced()) {
    paced_noted_ = false;
    boost::asio::post(socket_.get_executor(), [self = shared_from_this()] { self->pump(); });
  }
}

bool Session::paced() const {
  // Subscribers are not paced: their messages come whether their commands
  // are read or not (their soft limit disconnects them).
  return !subscribed() && held_for_client(0) > d_.settings().client_output.soft;
}

bool Session::enforce_output_limit(std::size_t held) {
  if (closed_) return true;
  std::string why = output_limit_exceeded(held);
  if (why.empty()) return false;
  // Redis's client-output-buffer-limit: a client that does not read its
  // replies is disconnected instead of growing this process.
  d_.note_client_event("client " + remote_ + " disconnected: " + why);
  close();
  return true;
}

}  // namespace tandem::kv
