#include "es_api.h"

namespace tandem::esrebuild {
namespace {
using json = nlohmann::json;

sdk::Status status_of(const sdk::Result<json>& r) { return r.ok() ? sdk::Status() : sdk::Status::failure(r.message()); }
}  // namespace

sdk::Result<HttpResponse> EsApi::call(Verb method, const std::string& path, const std::string& body) {
  return with_retries(retry_, cancelled_, [&] { return conn_.request(method, path, body); });
}

sdk::Result<json> EsApi::call_json(Verb method, const std::string& path, const std::string& body,
                                   const std::string& what) {
  auto r = call(method, path, body);
  if (!r.ok()) return sdk::Result<json>::failure(what + ": " + r.message());
  if (r->status < 200 || r->status > 299)
    return sdk::Result<json>::failure(what + ": Elasticsearch answered HTTP " + std::to_string(r->status) + " (" +
                                      es_error_reason(*r) + ")");
  auto doc = json::parse(r->body, nullptr, false);
  if (doc.is_discarded())
    return sdk::Result<json>::failure(what + ": the answer is not JSON: " + r->body.substr(0, 200));
  return doc;
}

sdk::Result<json> EsApi::cluster_health() {
  return call_json(Verb::get, "/_cluster/health", {}, "GET /_cluster/health");
}

sdk::Result<std::vector<std::string>> EsApi::alias_targets(const std::string& alias) {
  auto r = call(Verb::get, "/_alias/" + alias);
  if (!r.ok()) return sdk::Result<std::vector<std::string>>::failure("GET /_alias/" + alias + ": " + r.message());
  if (r->status == 404) return std::vector<std::string>{};
  if (r->status != 200)
    return sdk::Result<std::vector<std::string>>::failure("GET /_alias/" + alias + ": HTTP " +
                                                          std::to_string(r->status) + " (" + es_error_reason(*r) + ")");
  auto doc = json::parse(r->body, nullptr, false);
  if (!doc.is_object())
    return sdk::Result<std::vector<std::string>>::failure("GET /_alias/" + alias + ": unexpected answer " +
                                                          r->body.substr(0, 200));
  std::vector<std::string> out;
  for (auto& [index, _] : doc.items()) out.push_back(index);
  return out;
}

sdk::Result<std::map<std::string, std::set<std::string>>> EsApi::indices_matching(const std::string& pattern) {
  using Out = std::map<std::string, std::set<std::string>>;
  auto doc = call_json(Verb::get, "/" + pattern + "/_alias", {}, "GET /" + pattern + "/_alias");
  if (!doc.ok()) return sdk::Result<Out>::failure(doc.message());
  Out out;
  for (auto& [index, info] : doc->items()) {
    auto& aliases = out[index];
    if (info.contains("aliases"))
      for (auto& [alias, _] : info["aliases"].items()) aliases.insert(alias);
  }
  return out;
}

sdk::Status EsApi::create_index(const std::string& name, const json& body) {
  return status_of(call_json(Verb::put, "/" + name, body.dump(), "creating index " + name));
}

sdk::Status EsApi::delete_index(const std::string& name) {
  auto r = call(Verb::delete_, "/" + name);
  if (!r.ok()) return sdk::Status::failure("deleting index " + name + ": " + r.message());
  if (r->status == 404 || (r->status >= 200 && r->status < 300)) return {};
  return sdk::Status::failure("deleting index " + name + ": HTTP " + std::to_string(r->status) + " (" +
                              es_error_reason(*r) + ")");
}

sdk::Status EsApi::put_settings(const std::string& name, const json& settings) {
  return status_of(
      call_json(Verb::put, "/" + name + "/_settings", settings.dump(), "updating the settings of " + name));
}

sdk::Status EsApi::refresh(const std::string& name) {
  return status_of(call_json(Verb::post, "/" + name + "/_refresh", {}, "refreshing " + name));
}

sdk::Result<std::uint64_t> EsApi::count(const std::string& target) {
  auto doc = call_json(Verb::get, "/" + target + "/_count", {}, "counting documents in " + target);
  if (!doc.ok()) return sdk::Result<std::uint64_t>::failure(doc.message());
  if (!doc->contains("count") || !(*doc)["count"].is_number_unsigned())
    return sdk::Result<std::uint64_t>::failure("counting documents in " + target + ": no \"count\" in the answer");
  return (*doc)["count"].get<std::uint64_t>();
}

sdk::Status EsApi::update_aliases(const json& actions) {
  return status_of(call_json(Verb::post, "/_aliases", json{{"actions", actions}}.dump(), "POST /_aliases"));
}

}  // namespace tandem::esrebuild
