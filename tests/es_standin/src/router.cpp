#include "router.h"

#include <map>
#include <vector>

namespace tandem::esstandin {
namespace {

using verb = boost::beast::http::verb;
using json = nlohmann::json;

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct ParsedTarget {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
};

ParsedTarget parse_target(std::string_view target) {
  ParsedTarget out;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      auto eq = pair.find('=');
      out.query[percent_decode(pair.substr(0, eq))] =
          eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  std::size_t start = 0;
  while (start < path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.segments.push_back(percent_decode(path.substr(start, slash - start)));
    start = slash + 1;
  }
  return out;
}

std::size_t number_param(const ParsedTarget& t, const json& body, const std::string& name, std::size_t fallback) {
  if (auto it = t.query.find(name); it != t.query.end()) return std::stoul(it->second);
  if (body.is_object() && body.contains(name) && body[name].is_number_unsigned()) return body[name].get<std::size_t>();
  return fallback;
}

Reply method_not_allowed(verb method, std::string_view target) {
  return es_error(405, "method_not_allowed",
                  "Incorrect HTTP method for uri [" + std::string(target) + "] and method [" +
                      std::string(boost::beast::http::to_string(method)) + "]");
}

}  // namespace

Reply Router::handle(verb method, std::string_view target, std::string_view body) {
  ParsedTarget t;
  try {
    t = parse_target(target);
  } catch (const std::exception&) {
    return es_error(400, "illegal_argument_exception", "cannot decode the request target");
  }
  auto& s = t.segments;
  auto is_get = method == verb::get, is_post = method == verb::post, is_put = method == verb::put;

  if (s.empty()) {
    if (method == verb::head) return {200, ""};
    return {200, json{{"name", "es-standin"},
                      {"cluster_name", "tandem-es-standin"},
                      {"version", {{"number", "8.11.0"}}},
                      {"tagline", "You Know, for Search"}}
                     .dump()};
  }
  // Endpoints whose first segment is an API name.
  if (s[0] == "_cluster" && s.size() == 2 && s[1] == "health") return store_.cluster_health();
  if (s[0] == "_standin" && s.size() == 2 && s[1] == "faults" && (is_post || is_put)) return store_.set_faults(body);
  if (s[0] == "_standin" && s.size() == 2 && s[1] == "stats") return store_.stats();
  if (s[0] == "_bulk" && s.size() == 1)
    return is_post || is_put ? store_.bulk("", body) : method_not_allowed(method, target);
  if (s[0] == "_aliases" && s.size() == 1) return is_post ? store_.update_aliases(body) : store_.get_aliases("", "");
  if (s[0] == "_alias") return store_.get_aliases("", s.size() > 1 ? s[1] : "");
  if (s[0] == "_settings" && s.size() == 1) return store_.get_settings("");
  if (s[0] == "_refresh" && s.size() == 1) return store_.refresh("");
  if (s[0] == "_count" && s.size() == 1) return store_.count("");
  json search_body = body.empty() ? json::object() : json::parse(body, nullptr, false);
  auto search = [&](const std::string& on) {
    bool with_source = !(t.query.count("_source") && t.query["_source"] == "false") &&
                       !(search_body.is_object() && search_body.contains("_source") && search_body["_source"] == false);
    // Queries: match_all (or none) and ids; anything else is refused, not answered wrongly.
    std::vector<std::string> ids;
    bool by_ids = false;
    if (search_body.is_object() && search_body.contains("query")) {
      const json& q = search_body["query"];
      if (q.is_object() && q.size() == 1 && q.contains("ids") && q["ids"].is_object() && q["ids"].contains("values") &&
          q["ids"]["values"].is_array()) {
        by_ids = true;
        for (auto& v : q["ids"]["values"]) ids.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      } else if (!(q.is_object() && q.size() == 1 && q.contains("match_all"))) {
        return es_error(400, "parsing_exception", "the stand-in answers only match_all and ids queries");
      }
    }
    try {
      return store_.search(on, number_param(t, search_body, "from", 0), number_param(t, search_body, "size", 10),
                           with_source, by_ids ? &ids : nullptr);
    } catch (const std::exception&) {
      return es_error(400, "illegal_argument_exception", "size and from must be non-negative integers");
    }
  };
  if (s[0] == "_search" && s.size() == 1) return search("");
  if (s[0][0] == '_')
    return es_error(400, "invalid_index_name_exception",
                    "unsupported endpoint [" + std::string(target) + "] in the stand-in");

  // Endpoints on /<target>/...
  const std::string& name = s[0];
  if (s.size() == 1) {
    if (is_put) return store_.create_index(name, body);
    if (method == verb::delete_) return store_.delete_indices(name);
    if (method == verb::head) return store_.index_exists(name);
    if (is_get) return store_.get_settings(name);  // GET /<index>: settings are the part the plugin reads
    return method_not_allowed(method, target);
  }
  const std::string& api = s[1];
  if (api == "_bulk") return is_post || is_put ? store_.bulk(name, body) : method_not_allowed(method, target);
  if (api == "_settings") return is_put ? store_.put_settings(name, body) : store_.get_settings(name);
  if (api == "_refresh") return store_.refresh(name);
  if (api == "_count") return store_.count(name);
  if (api == "_search") return search(name);
  if (api == "_alias" || api == "_aliases") return store_.get_aliases(name, s.size() > 2 ? s[2] : "");
  return es_error(400, "illegal_argument_exception",
                  "unsupported endpoint [" + std::string(target) + "] in the stand-in");
}

}  // namespace tandem::esstandin
