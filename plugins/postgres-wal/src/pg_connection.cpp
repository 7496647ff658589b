#include "pg_connection.h"

#include <deque>

namespace tandem::pgwal {
namespace {

struct ResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

std::string trimmed_error(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string ConnectParams::describe() const {
  return "host=" + host + " port=" + std::to_string(port) + " user=" + user +
         (replication ? " replication=true" : " dbname=" + database) + (sslmode.empty() ? "" : " sslmode=" + sslmode);
}

PgConnection::PgConnection(const ConnectParams& params) : params_(params) {
  // libpq wants whole seconds, at least 2 to mean what it says (1 is raised to 2).
  const auto timeout_s =
      std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(params.connect_timeout).count());
  std::string options;
  if (params.statement_timeout.count() > 0 && !params.replication)
    options = "-c statement_timeout=" + std::to_string(params.statement_timeout.count());
  const std::string port = std::to_string(params.port);
  const std::string timeout = std::to_string(timeout_s);
  std::deque<std::string> storage;  // stable addresses for the c_str() pointers below
  std::vector<const char*> keys, values;
  auto add = [&](const char* k, std::string v) {
    keys.push_back(k);
    values.push_back(storage.emplace_back(std::move(v)).c_str());
  };
  add("host", params.host);
  add("port", port);
  add("user", params.user);
  add("dbname", params.replication ? std::string("replication") : params.database);
  if (params.replication) add("replication", "true");
  if (!params.password.empty()) add("password", params.password);
  add("connect_timeout", timeout);
  add("application_name", params.application_name);
  if (!params.sslmode.empty()) add("sslmode", params.sslmode);
  if (!params.sslrootcert.empty()) add("sslrootcert", params.sslrootcert);
  if (!options.empty()) add("options", options);
  // Never prompt, never read a password from an unexpected file.
  if (!params.password.empty()) add("passfile", "/dev/null");
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_.reset(PQconnectdbParams(keys.data(), values.data(), 0));
  if (!conn_) throw PgError("cannot allocate a libpq connection");
  if (PQstatus(conn_.get()) != CONNECTION_OK)
    throw PgError("cannot connect to PostgreSQL (" + params.describe() +
                  "): " + trimmed_error(PQerrorMessage(conn_.get())));
}

bool PgConnection::ok() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

std::vector<Row> PgConnection::query(const std::string& sql, const std::vector<std::string>& params) {
  ResultPtr res;
  if (params.empty()) {
    res.reset(PQexec(conn_.get(), sql.c_str()));
  } else {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    res.reset(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                           nullptr, 0));
  }
  if (!res) throw PgError("query failed on " + params_.describe() + ": " + trimmed_error(PQerrorMessage(conn_.get())));
  const auto status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw PgError("query failed on " + params_.describe() + ": " + trimmed_error(PQresultErrorMessage(res.get())));
  std::vector<Row> rows;
  const int n = PQntuples(res.get()), cols = PQnfields(res.get());
  for (int r = 0; r < n; ++r) {
    Row row;
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(res.get(), r, c))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(std::string(PQgetvalue(res.get(), r, c), PQgetlength(res.get(), r, c)));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string PgConnection::scalar(const std::string& sql, const std::vector<std::string>& params) {
  auto rows = query(sql, params);
  if (rows.empty() || rows[0].empty() || !rows[0][0])
    throw PgError("query returned no value on " + params_.describe() + ": " + sql);
  return *rows[0][0];
}

std::map<std::string, std::optional<std::string>> PgConnection::one_row(const std::string& sql) {
  ResultPtr res(PQexec(conn_.get(), sql.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK)
    throw PgError("query failed on " + params_.describe() + ": " +
                  trimmed_error(res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn_.get())));
  std::map<std::string, std::optional<std::string>> out;
  if (PQntuples(res.get()) == 0) return out;
  for (int c = 0; c < PQnfields(res.get()); ++c) {
    if (PQgetisnull(res.get(), 0, c))
      out[PQfname(res.get(), c)] = std::nullopt;
    else
      out[PQfname(res.get(), c)] = std::string(PQgetvalue(res.get(), 0, c));
  }
  return out;
}

std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string sql_literal(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string sql_identifier(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace tandem::pgwal
