// Maps an HTTP request of the Elasticsearch REST subset onto EsStore calls.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "es_store.h"

namespace tandem::esstandin {

class Router {
 public:
  explicit Router(EsStore& store) : store_(store) {}
  Reply handle(boost::beast::http::verb method, std::string_view target, std::string_view body);

 private:
  EsStore& store_;
};

}  // namespace tandem::esstandin
