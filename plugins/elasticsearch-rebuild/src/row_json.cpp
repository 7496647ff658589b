#include "row_json.h"

#include <bit>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace tandem::esrebuild {
namespace {

void append_json_escaped_char(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default:
      if (c < 0x20) {
        static const char* hex = "0123456789abcdef";
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
  }
}

// Decodes COPY text escapes (\\, \n, \t, \r, \b, \f, \v, octal, \xHH) and
// hands each resulting byte to `emit`.
template <class Emit>
void decode_copy_field(std::string_view field, Emit&& emit) {
  for (std::size_t i = 0; i < field.size(); ++i) {
    char c = field[i];
    if (c != '\\' || i + 1 == field.size()) {
      emit(static_cast<unsigned char>(c));
      continue;
    }
    char e = field[++i];
    switch (e) {
      case 'n': emit('\n'); break;
      case 't': emit('\t'); break;
      case 'r': emit('\r'); break;
      case 'b': emit('\b'); break;
      case 'f': emit('\f'); break;
      case 'v': emit('\v'); break;
      case 'x': {
        unsigned v = 0;
        int n = 0;
        while (n < 2 && i + 1 < field.size() && std::isxdigit(static_cast<unsigned char>(field[i + 1]))) {
          char h = field[++i];
          v = v * 16 + static_cast<unsigned>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
          ++n;
        }
        emit(static_cast<unsigned char>(v));
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          unsigned v = static_cast<unsigned>(e - '0');
          for (int n = 0; n < 2 && i + 1 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '7'; ++n)
            v = v * 8 + static_cast<unsigned>(field[++i] - '0');
          emit(static_cast<unsigned char>(v));
        } else {
          emit(static_cast<unsigned char>(e));  // \\ and any other escaped character
        }
    }
  }
}

bool has_escape(std::string_view s) { return s.find('\\') != std::string_view::npos; }

bool is_special(unsigned char c) { return c == '\\' || c == '"' || c < 0x20; }

// The index of the first byte at or after `i` that a text field cannot copy
// as is (a COPY escape, a quote or a control byte), or s.size(). Eight bytes
// at a time: in a rebuild this scan touches every byte of every text column.
std::size_t next_special(std::string_view s, std::size_t i) {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      // A byte of (x - 0x01..) & ~x has its high bit set where x's byte was 0
      // (below 0x20 for the third term); a borrow can only mark bytes above a
      // real hit, so the lowest marked byte is always a real one.
      std::uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
      std::uint64_t hits =
          (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((w - ones * 0x20) & ~w)) & highs;
      if (hits) return i + static_cast<std::size_t>(std::countr_zero(hits) >> 3);
    }
  }
  for (; i < s.size(); ++i)
    if (is_special(static_cast<unsigned char>(s[i]))) return i;
  return s.size();
}

}  // namespace

std::optional<JsonKind> json_kind_for_type(unsigned oid) {
  switch (oid) {
    case 20:
    case 21:
    case 23:
    case 26: return JsonKind::number;  // int8, int2, int4, oid
    case 700:
    case 701:
    case 1700: return JsonKind::decimal;  // float4, float8, numeric
    case 16: return JsonKind::boolean;    // bool
    case 25:
    case 1043:
    case 1042:
    case 19:
    case 18:
    case 2950: return JsonKind::string;  // text, varchar, bpchar, name, char, uuid
    case 114:
    case 3802: return JsonKind::raw;  // json, jsonb
    default: return std::nullopt;
  }
}

RowJsonEncoder::RowJsonEncoder(std::vector<RowColumn> columns, std::size_t id_index)
    : columns_(std::move(columns)), id_index_(id_index) {
  for (auto& c : columns_) {
    std::string key = "\"";
    for (unsigned char ch : c.name) append_json_escaped_char(key, ch);
    key += "\":";
    keys_.push_back(std::move(key));
  }
  json_.reserve(1024);
}

bool RowJsonEncoder::encode(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  json_.clear();
  json_ += '{';
  std::size_t start = 0;
  for (std::size_t col = 0; col < columns_.size(); ++col) {
    if (start > line.size()) return false;
    std::size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) tab = line.size();
    if ((col + 1 < columns_.size()) != (tab < line.size())) return false;
    std::string_view field = line.substr(start, tab - start);
    start = tab + 1;
    if (col) json_ += ',';
    json_ += keys_[col];
    bool null = field == "\\N";
    if (col == id_index_) {
      id_null_ = null;
      id_.clear();
      if (!null && !has_escape(field))
        id_.assign(field);
      else if (!null)
        decode_copy_field(field, [&](unsigned char c) { id_ += static_cast<char>(c); });
    }
    if (null) {
      json_ += "null";
      continue;
    }
    switch (columns_[col].kind) {
      case JsonKind::number: json_ += field; break;
      case JsonKind::decimal:
        if (field == "NaN" || field == "Infinity" || field == "-Infinity") {
          json_ += '"';
          json_ += field;
          json_ += '"';
        } else {
          json_ += field;
        }
        break;
      case JsonKind::boolean: json_ += field == "t" ? "true" : "false"; break;
      case JsonKind::string: {
        json_ += '"';
        // Runs of characters needing no escape either way are copied at once;
        // only backslash escapes, quotes and raw control bytes take the slow path.
        std::size_t run = 0;
        for (std::size_t i = next_special(field, 0); i < field.size(); i = next_special(field, run)) {
          auto c = static_cast<unsigned char>(field[i]);
          json_.append(field.data() + run, i - run);
          if (c == '\\' && i + 1 < field.size()) {
            // One COPY escape sequence: decode it alone (octal/hex take up to 3 more chars).
            std::size_t end = i + 2;
            if (field[i + 1] == 'x')
              while (end < field.size() && end < i + 4 && std::isxdigit(static_cast<unsigned char>(field[end]))) ++end;
            else if (field[i + 1] >= '0' && field[i + 1] <= '7')
              while (end < field.size() && end < i + 4 && field[end] >= '0' && field[end] <= '7') ++end;
            decode_copy_field(field.substr(i, end - i), [&](unsigned char d) { append_json_escaped_char(json_, d); });
            i = end - 1;
          } else {
            append_json_escaped_char(json_, c);
          }
          run = i + 1;
        }
        json_.append(field.data() + run, field.size() - run);
        json_ += '"';
        break;
      }
      case JsonKind::raw:
        if (has_escape(field))
          decode_copy_field(field, [&](unsigned char c) { json_ += static_cast<char>(c); });
        else
          json_ += field;
        break;
    }
  }
  json_ += '}';
  return true;
}

}  // namespace tandem::esrebuild
