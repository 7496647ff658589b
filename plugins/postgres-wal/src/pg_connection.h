// A libpq connection (RAII) with the plugin's timeouts, and small helpers to
// run a query and read its rows as strings.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tandem::pgwal {

// Where and how to connect. The password is passed to libpq in memory only;
// it never appears in a conninfo string, a log line or an error message.
struct ConnectParams {
  std::string host;
  int port = 5432;
  std::string user;
  std::string database = "postgres";
  std::string password;      // empty: none (trust, peer or a passfile)
  bool replication = false;  // physical replication protocol (IDENTIFY_SYSTEM, TIMELINE_HISTORY)
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds statement_timeout{std::chrono::seconds(10)};  // zero: none
  std::string application_name = "tandem-postgres-wal";
  std::string sslmode;      // "" : libpq's default
  std::string sslrootcert;  // "" : none

  // "host=.. port=.. user=.. dbname=.." for messages (no password).
  std::string describe() const;
};

using Row = std::vector<std::optional<std::string>>;  // nullopt: SQL NULL

// Thrown for connection and query failures; the message names the server and
// carries PostgreSQL's own error text.
class PgError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PgConnection {
 public:
  // Connects or throws PgError.
  explicit PgConnection(const ConnectParams& params);
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement (no parameters or with text parameters $1..$n); returns
  // its rows. Throws PgError.
  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {});
  // The first column of the only row; throws when there is no row or it is NULL.
  std::string scalar(const std::string& sql, const std::vector<std::string>& params = {});
  // The first row as column name -> value.
  std::map<std::string, std::optional<std::string>> one_row(const std::string& sql);
  bool ok() const;
  const ConnectParams& params() const { return params_; }

 private:
  struct Closer {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  ConnectParams params_;
  std::unique_ptr<PGconn, Closer> conn_;
};

// Quote a value for a libpq conninfo string: 'value' with \ and ' escaped.
std::string conninfo_quote(const std::string& value);
// Quote a SQL string literal ('' doubling); for values that cannot be bound.
std::string sql_literal(const std::string& value);
// Quote a SQL identifier ("" doubling).
std::string sql_identifier(const std::string& value);

}  // namespace tandem::pgwal
