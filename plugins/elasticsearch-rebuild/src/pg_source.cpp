#include "pg_source.h"

#include "row_json.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>
#include <vector>

namespace tandem::esrebuild {
namespace {

struct ResultGuard {
  explicit ResultGuard(PGresult* r) : r(r) {}
  ~ResultGuard() {
    if (r) PQclear(r);
  }
  ResultGuard(const ResultGuard&) = delete;
  ResultGuard& operator=(const ResultGuard&) = delete;
  PGresult* r;
};

std::string quote_ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

PgSource::PgSource(std::string conninfo, std::string password, std::chrono::milliseconds connect_timeout)
    : conninfo_(std::move(conninfo)), password_(std::move(password)), connect_timeout_(connect_timeout) {}

PgSource::~PgSource() {
  if (conn_) PQfinish(conn_);
}

std::string PgSource::error_text() const {
  std::string e = conn_ ? PQerrorMessage(conn_) : "no connection";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

sdk::Status PgSource::connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return {};
  if (conn_) PQfinish(conn_);
  std::string timeout = std::to_string(
      std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(connect_timeout_).count()));
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
  std::vector<const char*> values = {conninfo_.c_str(), timeout.c_str(), "tandem-elasticsearch-rebuild"};
  if (!password_.empty()) {
    keys.push_back("password");
    values.push_back(password_.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
    return sdk::Status::failure("cannot connect to the PostgreSQL source: " + error_text());
  return {};
}

sdk::Status PgSource::exec(const std::string& sql, const std::string& what) {
  ResultGuard r(PQexec(conn_, sql.c_str()));
  auto st = PQresultStatus(r.r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return sdk::Status::failure(what + ": " + error_text());
  return {};
}

sdk::Result<std::uint64_t> PgSource::count(const std::string& query) {
  auto st = connect();
  if (!st) return sdk::Result<std::uint64_t>::failure(st.message());
  ResultGuard r(PQexec(conn_, ("SELECT count(*) FROM (" + query + ") AS q").c_str()));
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK || PQntuples(r.r) != 1)
    return sdk::Result<std::uint64_t>::failure("counting the source rows: " + error_text());
  return std::stoull(PQgetvalue(r.r, 0, 0));
}

sdk::Result<std::uint64_t> PgSource::begin_snapshot_and_estimate(const std::string& query) {
  using R = sdk::Result<std::uint64_t>;
  auto st = connect();
  if (!st) return R::failure(st.message());
  st = exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting the snapshot");
  if (!st) return R::failure(st.message());
  ResultGuard r(PQexec(conn_, ("EXPLAIN (FORMAT JSON) SELECT * FROM (" + query + ") AS q").c_str()));
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK || PQntuples(r.r) != 1)
    return R::failure("planning the query: " + error_text());
  auto plan = nlohmann::json::parse(PQgetvalue(r.r, 0, 0), nullptr, false);
  if (plan.is_array() && !plan.empty() && plan[0].contains("Plan") && plan[0]["Plan"].contains("Plan Rows") &&
      plan[0]["Plan"]["Plan Rows"].is_number())
    return static_cast<std::uint64_t>(std::max(0.0, plan[0]["Plan"]["Plan Rows"].get<double>()));
  return std::uint64_t{0};  // an unreadable plan only costs the progress bar its total
}

sdk::Result<PgSource::Measure> PgSource::begin_snapshot_and_measure(const std::string& query,
                                                                    const std::string& updated_column) {
  using R = sdk::Result<Measure>;
  auto st = connect();
  if (!st) return R::failure(st.message());
  st = exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting the snapshot");
  if (!st) return R::failure(st.message());
  std::string col = "q." + quote_ident(updated_column);
  ResultGuard r(PQexec(
      conn_, ("SELECT count(*), max(" + col + ")::text, pg_typeof(max(" + col + "))::text FROM (" + query + ") AS q")
                 .c_str()));
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK || PQntuples(r.r) != 1)
    return R::failure("counting the source rows and their newest " + updated_column + ": " + error_text());
  Measure m;
  m.rows = std::stoull(PQgetvalue(r.r, 0, 0));
  if (!PQgetisnull(r.r, 0, 1)) m.newest = PQgetvalue(r.r, 0, 1);
  m.type = PQgetvalue(r.r, 0, 2);
  if (m.type != "timestamp with time zone" && m.type != "timestamp without time zone")
    return R::failure("updated_column '" + updated_column + "' is of type " + m.type +
                      ": the warm refresh needs a timestamp (or timestamptz) column that every insert and update "
                      "sets, e.g. `updated_at timestamptz NOT NULL DEFAULT now()` plus an update trigger");
  return m;
}

std::string PgSource::rows_updated_since(const std::string& query, const std::string& updated_column,
                                         const Measure& since, std::chrono::milliseconds overlap) {
  if (!since.newest) return query;
  std::string literal = "'";
  for (char c : *since.newest) literal += c == '\'' ? std::string("''") : std::string(1, c);
  literal += "'";
  return "SELECT * FROM (" + query + ") AS w WHERE w." + quote_ident(updated_column) + " >= " + literal +
         "::" + since.type + " - interval '" + std::to_string(overlap.count()) + " milliseconds'";
}

sdk::Result<std::uint64_t> PgSource::stream(const std::string& query, const std::string& id_column,
                                            const RowHandler& on_row, const std::atomic<bool>& cancelled) {
  using R = sdk::Result<std::uint64_t>;
  // Learn the columns (names and types) without reading any row.
  std::vector<RowColumn> columns;
  std::string select;
  std::optional<std::size_t> id_index;
  {
    ResultGuard r(PQexec(conn_, ("SELECT * FROM (" + query + ") AS q LIMIT 0").c_str()));
    if (PQresultStatus(r.r) != PGRES_TUPLES_OK) return R::failure("describing the query's columns: " + error_text());
    std::string names;
    for (int i = 0; i < PQnfields(r.r); ++i) {
      RowColumn c{PQfname(r.r, i), JsonKind::string};
      auto kind = json_kind_for_type(PQftype(r.r, i));
      std::string ref = "q." + quote_ident(c.name);
      // Types whose JSON form differs from their text (timestamps, arrays,
      // composites...) are converted by PostgreSQL, as row_to_json would.
      c.kind = kind.value_or(JsonKind::raw);
      select += (i ? ", " : "") + (kind ? ref : "to_json(" + ref + ")");
      if (c.name == id_column) id_index = static_cast<std::size_t>(i);
      names += (i ? ", " : "") + c.name;
      columns.push_back(std::move(c));
    }
    if (!id_index)
      return R::failure("id_column '" + id_column + "' is not a column of the query (its columns: " + names + ")");
  }
  RowJsonEncoder encoder(std::move(columns), *id_index);
  std::string sql = "COPY (SELECT " + select + " FROM (" + query + ") AS q) TO STDOUT";
  {
    ResultGuard r(PQexec(conn_, sql.c_str()));
    if (PQresultStatus(r.r) != PGRES_COPY_OUT) return R::failure("starting COPY of the source rows: " + error_text());
  }
  std::uint64_t rows = 0;
  bool stop = false;
  std::string error;
  for (;;) {
    char* buf = nullptr;
    int len = PQgetCopyData(conn_, &buf, 0);  // one row per call in text format
    if (len == -1) break;                     // COPY done
    if (len == -2) return R::failure("reading the source rows: " + error_text());
    if (!encoder.encode(std::string_view(buf, static_cast<std::size_t>(len)))) {
      error = "a COPY row does not have the query's columns";
      stop = true;
    } else {
      ++rows;
      if (!on_row(encoder.id(), encoder.json()) || cancelled.load()) stop = true;
    }
    PQfreemem(buf);
    // Stopping early: cancel the query instead of reading it all.
    if (stop) {
      if (PGcancel* c = PQgetCancel(conn_)) {
        char errbuf[256];
        PQcancel(c, errbuf, sizeof errbuf);
        PQfreeCancel(c);
      }
      while (PQgetCopyData(conn_, &buf, 0) >= 0) PQfreemem(buf);
      break;
    }
  }
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  // The snapshot was read-only: a failed ROLLBACK loses nothing, and the
  // connection is closed with this object anyway.
  (void)exec("ROLLBACK", "ending the snapshot");
  if (!error.empty()) return R::failure("decoding the COPY stream: " + error);
  if (stop) return R::failure(cancelled.load() ? "cancelled" : "stopped");
  return rows;
}

}  // namespace tandem::esrebuild
