// Turns rows of a text-format COPY into JSON objects shaped like PostgreSQL's
// row_to_json, without asking PostgreSQL to build the JSON: plain COPY costs
// the server far less than row_to_json, and the encoding below is a single
// linear pass in the plugin (on another core than the database).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::esrebuild {

// How a column's COPY text becomes a JSON value.
enum class JsonKind {
  number,   // integer types, oid: the text is a JSON number
  decimal,  // float4/8, numeric: a JSON number, or a string for NaN / Infinity
  boolean,  // t / f
  string,   // text-like: escaped into a JSON string
  raw,      // json, jsonb, or a column the query wraps in to_json(): inserted as is
};

struct RowColumn {
  std::string name;
  JsonKind kind = JsonKind::string;
};

// The JsonKind for a PostgreSQL type OID, or nullopt when the column should
// be converted by PostgreSQL itself (to_json: timestamps, arrays, composites...).
std::optional<JsonKind> json_kind_for_type(unsigned oid);

class RowJsonEncoder {
 public:
  RowJsonEncoder(std::vector<RowColumn> columns, std::size_t id_index);

  // Encodes one COPY text line (without or with its trailing newline).
  // Returns false when the field count does not match the columns.
  bool encode(std::string_view line);
  std::string_view json() const { return json_; }
  // The id column's text (unescaped); nullopt when NULL.
  std::optional<std::string_view> id() const { return id_null_ ? std::nullopt : std::optional<std::string_view>(id_); }

 private:
  std::vector<RowColumn> columns_;
  std::vector<std::string> keys_;  // `"name":` ready to append
  std::size_t id_index_;
  std::string json_;
  std::string id_;
  bool id_null_ = false;
};

}  // namespace tandem::esrebuild
