#include "pg_source.h"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

namespace tandem::esrebuild {
namespace {

struct ResultGuard {
  explicit ResultGuard(PGresult* r) : r(r) {}
  ~ResultGuard() { if (r) PQclear(r); }
  ResultGuard(const ResultGuard&) = delete;
  ResultGuard& operator=(const ResultGuard&) = delete;
  PGresult* r;
};

std::string quote_ident(const std::string& name) { return "\"" + name + "\""; }

std::uint16_t read_u16(const char* p) { std::uint16_t v; std::memcpy(&v, p, 2); return ntohs(v); }
std::int32_t read_i32(const char* p) { std::uint32_t v; std::memcpy(&v, p, 4); return static_cast<std::int32_t>(ntohl(v)); }

// Incremental parser of PostgreSQL's binary COPY stream: header, then tuples
// of (int16 field count, per field int32 length + bytes), then a -1 trailer.
// It works on whatever pieces PQgetCopyData returns (usually one row each).
class BinaryCopyParser {
 public:
  // Feeds a chunk; calls on_tuple(fields) for each complete tuple.
  // Returns an error text on malformed input, empty otherwise.
  template <class OnTuple>
  std::string feed(const char* data, std::size_t len, OnTuple&& on_tuple) {
    const char* p = data;
    std::size_t n = len;
    if (!carry_.empty()) {  // rare: a tuple split across messages
      carry_.append(data, len);
      p = carry_.data();
      n = carry_.size();
    }
    std::size_t used = 0;
    std::string error = parse(p, n, used, on_tuple);
    if (!error.empty()) return error;
    if (!carry_.empty())
      carry_.erase(0, used);
    else if (used < len)
      carry_.assign(data + used, len - used);
    return {};
  }
  bool finished() const { return finished_; }

 private:
  template <class OnTuple>
  std::string parse(const char* p, std::size_t n, std::size_t& used, OnTuple& on_tuple) {
    static const char kSignature[] = "PGCOPY\n\377\r\n";
    if (!header_done_) {
      if (n < 19) return {};
      if (std::memcmp(p, kSignature, 11) != 0) return "COPY stream does not start with the binary signature";
      std::size_t header = 19 + static_cast<std::uint32_t>(read_i32(p + 15));
      if (n < header) return {};
      used = header;
      header_done_ = true;
    }
    while (!finished_) {
      if (n - used < 2) return {};
      auto fields = static_cast<std::int16_t>(read_u16(p + used));
      if (fields == -1) {
        finished_ = true;
        used += 2;
        return {};
      }
      std::size_t pos = used + 2;
      views_.clear();
      for (int f = 0; f < fields; ++f) {
        if (n - pos < 4) return {};
        std::int32_t flen = read_i32(p + pos);
        pos += 4;
        if (flen < 0) {
          views_.push_back(std::nullopt);
          continue;
        }
        if (n - pos < static_cast<std::size_t>(flen)) return {};
        views_.push_back(std::string_view(p + pos, static_cast<std::size_t>(flen)));
        pos += static_cast<std::size_t>(flen);
      }
      if (!on_tuple(views_)) {
        finished_ = true;
        stopped_ = true;
      }
      used = pos;
    }
    return {};
  }

  bool header_done_ = false;
  bool finished_ = false;
  bool stopped_ = false;
  std::string carry_;
  std::vector<std::optional<std::string_view>> views_;
};

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
  std::string timeout = std::to_string(std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(connect_timeout_).count()));
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

sdk::Result<std::uint64_t> PgSource::begin_snapshot_and_count(const std::string& query) {
  auto st = connect();
  if (!st) return sdk::Result<std::uint64_t>::failure(st.message());
  st = exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting the snapshot");
  if (!st) return sdk::Result<std::uint64_t>::failure(st.message());
  return count(query);
}

sdk::Result<std::uint64_t> PgSource::stream(const std::string& query, const std::string& id_column, const RowHandler& on_row,
                                            const std::atomic<bool>& cancelled) {
  using R = sdk::Result<std::uint64_t>;
  std::string sql = "COPY (SELECT (q." + quote_ident(id_column) + ")::text, row_to_json(q)::text FROM (" + query +
                    ") AS q) TO STDOUT (FORMAT binary)";
  {
    ResultGuard r(PQexec(conn_, sql.c_str()));
    if (PQresultStatus(r.r) != PGRES_COPY_OUT) return R::failure("starting COPY of the source rows: " + error_text());
  }
  BinaryCopyParser parser;
  std::uint64_t rows = 0;
  bool stop = false;
  std::string error;
  for (;;) {
    char* buf = nullptr;
    int len = PQgetCopyData(conn_, &buf, 0);
    if (len == -1) break;  // COPY done
    if (len == -2) return R::failure("reading the source rows: " + error_text());
    if (!stop) {
      error = parser.feed(buf, static_cast<std::size_t>(len), [&](const std::vector<std::optional<std::string_view>>& f) {
        if (f.size() != 2) return true;
        ++rows;
        if (!f[1] || !on_row(f[0], *f[1]) || cancelled.load()) {
          stop = true;
          return false;
        }
        return true;
      });
    }
    PQfreemem(buf);
    if (!error.empty()) stop = true;
    // Stopping early: drain by cancelling the query instead of reading it all.
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

