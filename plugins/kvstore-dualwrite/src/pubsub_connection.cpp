#include "pubsub_connection.h"

#include "plugin_util.h"

#include <algorithm>
#include <cctype>

namespace tandem::kv {

namespace {

// A published message, which no request asked for: RESP2 arrays and RESP3
// push frames, as Redis 7.0 sends them (addReplyPubsubMessage, ...PatMessage).
bool is_message(const RespParser& f) {
  if (f.type() != RespType::array || f.size() < 3 || f.element_type(0) != RespType::string) return false;
  std::string_view kind = f.element(0);
  return (kind == "message" && f.size() == 3) || (kind == "smessage" && f.size() == 3) ||
         (kind == "pmessage" && f.size() == 4);
}

}  // namespace

bool is_subscription_command(std::string_view n) {
  return n == "SUBSCRIBE" || n == "PSUBSCRIBE" || n == "SSUBSCRIBE" || n == "UNSUBSCRIBE" || n == "PUNSUBSCRIBE" ||
         n == "SUNSUBSCRIBE";
}

PubSubConnection::PubSubConnection(boost::asio::io_context& io, const Settings& settings, const std::string& password,
                                   int proto, Hooks hooks)
    : hooks_(std::move(hooks)) {
  // No writer name (it writes nothing), no epoch check: the endpoint that
  // owns it stops, and closes it, when the node is fenced or demoted.
  link_ = std::make_shared<BackendLink>(
      io, "local Redis " + settings.local.describe() + " (subscriber)", settings.local, password, settings.db, settings,
      BackendLink::Callbacks{[](LinkToken&, const RespParser&) {},
                             [this](std::deque<LinkToken>&, const std::string& why) {
                               if (!stopped_) hooks_.failed(why);
                             },
                             [this, proto] {
                               if (proto == 3) {  // send() puts HELLO 3 before the PING; both answer the token
                                 LinkToken t;
                                 t.internal = [](const RespParser&) {};
                                 link_->send(kPingCommand, std::move(t), 3);
                               }
                               on_up();
                             },
                             nullptr, nullptr, nullptr, nullptr});
  link_->set_stream_handler([this](const RespParser& f) { on_frame(f); });
  link_->start();
}

void PubSubConnection::stop() {
  if (stopped_) return;
  stopped_ = true;
  link_->stop();
  for (auto& p : pending_)
    if (p.op) p.op->done = true;
  pending_.clear();
}

void PubSubConnection::on_up() {
  if (stopped_) return;
  up_ = true;
  if (!queued_.empty()) link_->send_untracked(queued_);
  std::string().swap(queued_);
}

void PubSubConnection::queue(Pending p, std::string_view bytes) {
  pending_.push_back(std::move(p));
  if (pending_.size() == 1) settle_front();
  if (up_)
    link_->send_untracked(bytes);
  else
    queued_.append(bytes);
}

void PubSubConnection::send(const std::shared_ptr<Op>& op, const RespParser& cmd) {
  Pending p;
  p.op = op;
  const std::string name = to_upper(cmd.element(0));
  const std::size_t args = cmd.size() - 1;
  if (is_subscription_command(name)) {
    p.family = name == "PSUBSCRIBE" || name == "PUNSUBSCRIBE"   ? Family::pattern
               : name == "SSUBSCRIBE" || name == "SUNSUBSCRIBE" ? Family::shard
                                                                : Family::channel;
    p.subscribe = name.find("UNSUBSCRIBE") == std::string::npos;
    if (p.subscribe) {
      // No channel: Redis answers the arity error, one frame, and nothing changes.
      p.frames = std::max<std::size_t>(args, 1);
      p.counted = args > 0;
      if (p.counted) ++subscribing_;
    } else {
      p.frames = args;
      p.all = args == 0;
      p.counted = true;
      ++unsubscribing_;
    }
  }
  queue(std::move(p), cmd.bytes());
}

void PubSubConnection::switch_proto(int proto) {
  queue(Pending{}, proto == 3 ? "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n" : "*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n");
}

std::set<std::string>& PubSubConnection::subscriptions(Family f) {
  return f == Family::pattern ? patterns_ : f == Family::shard ? shards_ : channels_;
}

void PubSubConnection::settle_front() {
  if (pending_.empty() || !pending_.front().all) return;
  auto& p = pending_.front();
  // Redis answers an UNSUBSCRIBE without arguments with one frame per
  // subscription of that kind it has when it runs it (now: every earlier
  // frame was seen), or one frame (a null name) when there is none.
  p.frames = std::max<std::size_t>(subscriptions(p.family).size(), 1);
  p.all = false;
}

void PubSubConnection::on_frame(const RespParser& f) {
  if (stopped_) return;
  if (is_message(f)) return hooks_.message(f.bytes());
  if (pending_.empty()) return hooks_.failed("a reply from Redis that no request of the subscriber asked for");
  auto& p = pending_.front();
  if (p.op) p.op->reply.append(f.bytes());
  if (f.is_error()) return finish_front();  // an error is the whole answer
  if (p.family != Family::none && f.type() == RespType::array && f.size() == 3) {
    auto& set = subscriptions(p.family);
    if (p.subscribe)
      set.emplace(f.element(1));
    else if (f.element_type(1) == RespType::string)
      set.erase(std::string(f.element(1)));
  }
  if (--p.frames == 0) finish_front();
}

void PubSubConnection::finish_front() {
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  if (p.counted) --(p.subscribe ? subscribing_ : unsubscribing_);
  settle_front();
  if (!p.op) return;
  p.op->done = true;
  hooks_.progressed(*p.op);  // last: it may close the session, and this with it
}

}  // namespace tandem::kv
