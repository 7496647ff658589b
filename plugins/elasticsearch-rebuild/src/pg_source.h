// Reads the documents of a rebuild out of PostgreSQL: counts the rows and
// streams them, in one REPEATABLE READ snapshot so the count and the rows
// agree even while the application keeps writing. Rows are streamed with
// COPY (SELECT ...) TO STDOUT, one row at a time (PQgetCopyData): never the
// whole result in memory; each row becomes a row_to_json-shaped object in the
// plugin (row_json.h), which costs the database no more than a plain COPY.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/sdk/result.h"

namespace tandem::esrebuild {

class PgSource {
 public:
  // password: from source_password_file, or empty (trust / .pgpass / peer).
  PgSource(std::string conninfo, std::string password, std::chrono::milliseconds connect_timeout);
  ~PgSource();
  PgSource(const PgSource&) = delete;
  PgSource& operator=(const PgSource&) = delete;

  sdk::Status connect();
  // BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY, then the planner's
  // estimate of the query's rows (for progress only: no scan; the exact
  // count is what stream() returns from the same snapshot).
  sdk::Result<std::uint64_t> begin_snapshot_and_estimate(const std::string& query);
  // What a warm refresh needs from its snapshot: the rows, and the newest
  // value of the updated column with its type (a timestamp type, checked).
  struct Measure {
    std::uint64_t rows = 0;
    std::optional<std::string> newest;  // max(updated_column) as PostgreSQL prints it; nullopt: no row has one
    std::string type;                   // "timestamp with time zone" or "timestamp without time zone"
  };
  // BEGIN ... READ ONLY, then count the rows and take max(updated_column) in one scan.
  sdk::Result<Measure> begin_snapshot_and_measure(const std::string& query, const std::string& updated_column);
  // The query restricted to rows whose updated column is at least `newest`
  // minus `overlap` (all rows when newest is nullopt), to pass to stream().
  static std::string rows_updated_since(const std::string& query, const std::string& updated_column,
                                        const Measure& since, std::chrono::milliseconds overlap);
  // A standalone count (health: source rows vs documents).
  sdk::Result<std::uint64_t> count(const std::string& query);

  // Called per row with the id (nullopt when NULL) and the row as a JSON
  // object; return false to stop early. The views are valid during the call.
  using RowHandler = std::function<bool(std::optional<std::string_view> id, std::string_view json)>;
  // Streams `query` within the snapshot begun above; stops when `cancelled`.
  sdk::Result<std::uint64_t> stream(const std::string& query, const std::string& id_column, const RowHandler& on_row,
                                    const std::atomic<bool>& cancelled);

 private:
  sdk::Status exec(const std::string& sql, const std::string& what);
  std::string error_text() const;

  std::string conninfo_;
  std::string password_;
  std::chrono::milliseconds connect_timeout_;
  PGconn* conn_ = nullptr;
};

}  // namespace tandem::esrebuild
