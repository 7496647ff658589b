// A real headless Chromium (Debian's `chromium`) driven over its DevTools
// protocol, for tests of pages tandemd serves: open a URL, evaluate script in
// the page, take a screenshot, and list every request the page made (the
// page's own Content-Security-Policy is bypassed, so a request it would have
// blocked is still seen and counted). Host names other than 127.0.0.1 do not
// resolve (--host-resolver-rules), so nothing a page asks for leaves the machine.
// RAII: the browser and its profile are gone when the object is.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/sdk/process.h"
#include "tandem/sdk/testing/temp_dir.h"

namespace tandem::testsupport {

class HeadlessChromium {
 public:
  // Starts chromium with a fresh profile and one blank page. Throws
  // std::runtime_error (with the end of its log) when it does not come up.
  explicit HeadlessChromium(int width = 1280, int height = 900);
  ~HeadlessChromium();
  HeadlessChromium(const HeadlessChromium&) = delete;
  HeadlessChromium& operator=(const HeadlessChromium&) = delete;

  // The page's viewport, in CSS pixels (Emulation.setDeviceMetricsOverride):
  // a phone's width without a second browser.
  void set_viewport(int width, int height);
  // Loads `url` in the page and waits for its load event.
  void navigate(const std::string& url);
  // Runtime.evaluate of `expression` (awaiting a promise), its value as JSON;
  // throws with the page's exception text when it throws.
  nlohmann::json evaluate(const std::string& expression);
  // A real left click (Input.dispatchMouseEvent) at the centre of the first
  // element matching `selector`, scrolled into view; throws when none matches.
  void click(const std::string& selector);
  // Focuses the first element matching `selector` and types `text` into it
  // (Input.insertText: the page sees input events, as from a keyboard).
  void type(const std::string& selector, const std::string& text);
  // Page.captureScreenshot, written to `path` as PNG.
  void screenshot(const std::filesystem::path& path);
  // Every URL the page has requested so far (Network.requestWillBeSent), in order.
  std::vector<std::string> requested_urls();
  std::string log_tail() const;

 private:
  // One DevTools command on the page's session; events read meanwhile are recorded.
  nlohmann::json call(const std::string& method, nlohmann::json params = nlohmann::json::object());
  void record_event(const nlohmann::json& message);

  struct Socket;
  sdk::testing::TempDir profile_{"tandem-chromium"};
  sdk::ChildProcess browser_;
  std::unique_ptr<Socket> socket_;
  int next_id_ = 1;
  bool loaded_ = false;  // Page.loadEventFired seen since the last navigate
  std::vector<std::string> requests_;
};

// The URLs of `urls` whose origin is not `origin` (e.g. "http://127.0.0.1:7480");
// data: URLs count as local.
std::vector<std::string> foreign_requests(const std::vector<std::string>& urls, const std::string& origin);

}  // namespace tandem::testsupport
