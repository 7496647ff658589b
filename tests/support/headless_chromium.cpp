#include "support/headless_chromium.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "support/background_process.h"
#include "support/test_http.h"
#include "tandem/sdk/base64.h"

namespace tandem::testsupport {
namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;

struct HeadlessChromium::Socket {
  net::io_context io;
  websocket::stream<boost::beast::tcp_stream> ws{io};
};

namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "http://host:port/path" -> "http://host:port".
std::string origin_of(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  auto path = url.find('/', scheme_end + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

}  // namespace

HeadlessChromium::HeadlessChromium(int width, int height) {
  sdk::ChildSpec spec;
  spec.argv = {"chromium", "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
               // The browser's own traffic (updates, safe browsing, metrics) is off;
               // and no name but the node's address resolves, for the page or the browser.
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-dev-shm-usage",
               "--window-size=" + std::to_string(width) + "," + std::to_string(height),
               "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
               "--user-data-dir=" + (profile_.path() / "profile").string(), "about:blank"};
  // Chromium refuses to run as root with its sandbox on.
  if (::geteuid() == 0) spec.argv.insert(spec.argv.begin() + 1, "--no-sandbox");
  spec.env = {{"HOME", profile_.path().string()}};
  spec.log_file = profile_.path() / "chromium.log";
  browser_ = start_background(spec);

  // It writes its DevTools port (line 1) into the profile once listening.
  auto port_file = profile_.path() / "profile" / "DevToolsActivePort";
  int port = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < deadline;) {
    if (!browser_.running()) throw std::runtime_error("chromium exited at start:\n" + log_tail());
    std::istringstream in(read_text(port_file));
    if (in >> port && port > 0) break;
    port = 0;
    std::this_thread::sleep_for(100ms);
  }
  if (!port) throw std::runtime_error("chromium wrote no DevToolsActivePort within 60 s:\n" + log_tail());

  // The blank page's own DevTools socket.
  std::string ws_url;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       ws_url.empty() && std::chrono::steady_clock::now() < deadline;) {
    auto list = testhttp::get(port, "/json/list");
    if (list.status == 200)
      for (const auto& t : list.json())
        if (t.value("type", "") == "page") ws_url = t.value("webSocketDebuggerUrl", "");
    if (ws_url.empty()) std::this_thread::sleep_for(100ms);
  }
  if (ws_url.empty()) throw std::runtime_error("chromium lists no page target:\n" + log_tail());
  auto path = ws_url.substr(ws_url.find('/', ws_url.find("://") + 3));

  socket_ = std::make_unique<Socket>();
  net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  socket_->ws.next_layer().expires_after(30s);
  socket_->ws.next_layer().connect(ep);
  socket_->ws.next_layer().expires_never();
  socket_->ws.read_message_max(64 * 1024 * 1024);  // screenshots arrive as one message
  socket_->ws.handshake("127.0.0.1:" + std::to_string(port), path);

  call("Page.enable");
  call("Network.enable");
  // The viewport exactly as asked: --window-size alone is clamped to a
  // minimum width (about 500 px), too wide for a phone's.
  set_viewport(width, height);
  // The test sees every request the page makes, also those its CSP would block.
  call("Page.setBypassCSP", {{"enabled", true}});
}

HeadlessChromium::~HeadlessChromium() {
  if (socket_) socket_->ws.next_layer().close();
  browser_.stop(10s);
}

void HeadlessChromium::record_event(const nlohmann::json& message) {
  const std::string method = message.value("method", "");
  if (method == "Network.requestWillBeSent") requests_.push_back(message["params"]["request"].value("url", ""));
  if (method == "Page.loadEventFired") loaded_ = true;
}

nlohmann::json HeadlessChromium::call(const std::string& method, nlohmann::json params) {
  int id = next_id_++;
  socket_->ws.text(true);
  socket_->ws.next_layer().expires_after(60s);
  socket_->ws.write(net::buffer(nlohmann::json{{"id", id}, {"method", method}, {"params", std::move(params)}}.dump()));
  for (;;) {
    boost::beast::flat_buffer buffer;
    socket_->ws.read(buffer);
    auto message = nlohmann::json::parse(boost::beast::buffers_to_string(buffer.data()));
    if (!message.contains("id")) {
      record_event(message);
      continue;
    }
    if (message["id"] != id) continue;
    socket_->ws.next_layer().expires_never();
    if (message.contains("error")) throw std::runtime_error(method + ": " + message["error"].dump());
    return message["result"];
  }
}

void HeadlessChromium::set_viewport(int width, int height) {
  call("Emulation.setDeviceMetricsOverride",
       {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
}

void HeadlessChromium::navigate(const std::string& url) {
  loaded_ = false;
  auto r = call("Page.navigate", {{"url", url}});
  if (r.contains("errorText")) throw std::runtime_error("navigate " + url + ": " + r["errorText"].dump());
  for (auto deadline = std::chrono::steady_clock::now() + 60s; !loaded_;) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("no load event for " + url);
    evaluate("new Promise(r => setTimeout(r, 50))");  // reads the events meanwhile
  }
}

nlohmann::json HeadlessChromium::evaluate(const std::string& expression) {
  auto r = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
  if (r.contains("exceptionDetails"))
    throw std::runtime_error("page script threw: " + r["exceptionDetails"].dump() + "\nfor: " + expression);
  return r["result"].value("value", nlohmann::json());
}

void HeadlessChromium::click(const std::string& selector) {
  // The selector goes in as a JSON string: any quote in it stays a quote.
  auto centre = evaluate("(() => { const e = document.querySelector(" + nlohmann::json(selector).dump() +
                         "); if (!e) return null; e.scrollIntoView({block: 'center'});"
                         " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()");
  if (!centre.is_array()) throw std::runtime_error("click: nothing on the page matches " + selector);
  nlohmann::json at = {{"x", centre[0]}, {"y", centre[1]}, {"button", "left"}, {"clickCount", 1}};
  call("Input.dispatchMouseEvent", {{"type", "mouseMoved"}, {"x", centre[0]}, {"y", centre[1]}});
  for (const char* type : {"mousePressed", "mouseReleased"}) {
    at["type"] = type;
    call("Input.dispatchMouseEvent", at);
  }
}

void HeadlessChromium::type(const std::string& selector, const std::string& text) {
  auto found = evaluate("(() => { const e = document.querySelector(" + nlohmann::json(selector).dump() +
                        "); if (!e) return false; e.focus(); return document.activeElement === e; })()");
  if (found != true) throw std::runtime_error("type: nothing focusable on the page matches " + selector);
  call("Input.insertText", {{"text", text}});
}

void HeadlessChromium::screenshot(const std::filesystem::path& path) {
  auto r = call("Page.captureScreenshot", {{"format", "png"}, {"captureBeyondViewport", true}});
  auto png = sdk::base64_decode(r.value("data", ""));
  if (!png.ok()) throw std::runtime_error("screenshot: " + png.message());
  std::ofstream out(path, std::ios::binary);
  out << *png;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::string> HeadlessChromium::requested_urls() {
  evaluate("0");  // a round trip: the events sent before it have been read
  return requests_;
}

std::string HeadlessChromium::log_tail() const {
  auto text = read_text(profile_.path() / "chromium.log");
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

std::vector<std::string> foreign_requests(const std::vector<std::string>& urls, const std::string& origin) {
  std::vector<std::string> out;
  for (const auto& u : urls)
    if (u.rfind("data:", 0) != 0 && origin_of(u) != origin) out.push_back(u);
  return out;
}

}  // namespace tandem::testsupport
