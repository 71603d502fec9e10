// Checks on what the admin console sends: well-framed messages whose contents agree with their
// headers (RowDescription and DataRow field counts, ErrorResponse fields, NUL-ended tags).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "pooler/protocol/error_fields.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::fuzz {

// The column count of a RowDescription body; traps unless the body is exactly that many fields.
inline int row_description_columns(const std::string& body) {
  util::ByteReader r(util::as_bytes(body));
  auto count = r.i16();
  require(count && *count >= 0);
  for (int i = 0; i < *count; ++i) {
    auto name = r.cstring();
    require(name && !name->empty());
    require(r.bytes(18).has_value());
  }
  require(!r.failed() && r.remaining() == 0);
  return *count;
}

// The field count of a DataRow body; traps unless the body is exactly that many values.
inline int data_row_fields(const std::string& body) {
  util::ByteReader r(util::as_bytes(body));
  auto count = r.i16();
  require(count && *count >= 0);
  for (int i = 0; i < *count; ++i) {
    auto length = r.i32();
    require(length && *length >= -1);
    if (*length > 0) {
      require(r.bytes(static_cast<std::size_t>(*length)).has_value());
    }
  }
  require(!r.failed() && r.remaining() == 0);
  return *count;
}

inline void check_error(const std::string& body) {
  auto fields = protocol::parse_error_fields(util::as_bytes(body));
  require(fields.severity == "ERROR");
  require(fields.sqlstate.size() == 5 && !fields.message.empty());
}

// A CommandComplete tag: printable, NUL-terminated, nothing after.
inline std::string command_tag(const std::string& body) {
  require(!body.empty() && body.back() == '\0');
  std::string tag = body.substr(0, body.size() - 1);
  require(!tag.empty());
  for (char c : tag) {
    require(c >= ' ' && c <= '~');
  }
  return tag;
}

// Every message a console result may hold checks out; DataRows match the last RowDescription
// known (sent in this result or, for Execute after Describe, given as `columns`).
inline void check_result_messages(const std::vector<WireMessage>& messages,
                                  std::optional<int> columns = std::nullopt) {
  for (const WireMessage& m : messages) {
    switch (m.type) {
      case 'T':
        columns = row_description_columns(m.body);
        break;
      case 'D':
        // Execute without Describe sends rows whose description the client did not ask for.
        require(!columns.has_value() || data_row_fields(m.body) == *columns);
        data_row_fields(m.body);
        break;
      case 'E':
        check_error(m.body);
        break;
      case 'C':
        command_tag(m.body);
        break;
      case 'N':
        require(protocol::parse_error_fields(util::as_bytes(m.body)).severity == "NOTICE");
        break;
      case 'I':
        require(m.body.empty());
        break;
      default:
        break;
    }
  }
}

}  // namespace pooler::fuzz
