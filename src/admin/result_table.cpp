// Wire encoding of console results.
#include "pooler/admin/result_table.hpp"

#include <cstdint>

#include "pooler/protocol/message_builder.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::admin {

namespace {

// PostgreSQL type oids; PgBouncer sends its timestamps as text.
std::int32_t type_oid(ColumnType type) {
  switch (type) {
    case ColumnType::kInt4:
      return 23;
    case ColumnType::kInt8:
      return 20;
    case ColumnType::kNumeric:
      return 1700;
    case ColumnType::kText:
    case ColumnType::kTimestamp:
      return 25;
  }
  return 25;
}

std::int16_t type_length(ColumnType type) {
  switch (type) {
    case ColumnType::kInt4:
      return 4;
    case ColumnType::kInt8:
      return 8;
    default:
      return -1;
  }
}

using protocol::begin_message;
using protocol::finish_message;

}  // namespace

void append_row_description(std::string& out, const ResultTable& table) {
  auto at = begin_message(out, 'T');
  util::ByteWriter w(out);
  w.i16(static_cast<std::int16_t>(table.columns.size()));
  for (const auto& column : table.columns) {
    w.cstring(column.name);
    w.i32(0);  // table oid
    w.i16(0);  // attribute number
    w.i32(type_oid(column.type));
    w.i16(type_length(column.type));
    w.i32(-1);  // type modifier
    w.i16(0);   // text format
  }
  finish_message(out, at);
}

void append_command_complete(std::string& out, std::string_view tag) {
  auto at = begin_message(out, 'C');
  util::ByteWriter(out).cstring(tag);
  finish_message(out, at);
}

void append_table(std::string& out, const ResultTable& table, std::string_view tag,
                  bool describe) {
  if (describe) append_row_description(out, table);
  for (const auto& row : table.rows) {
    auto at = begin_message(out, 'D');
    util::ByteWriter w(out);
    w.i16(static_cast<std::int16_t>(row.size()));
    for (const auto& cell : row) {
      if (!cell) {
        w.i32(-1);
        continue;
      }
      w.i32(static_cast<std::int32_t>(cell->size()));
      w.raw(*cell);
    }
    finish_message(out, at);
  }
  append_command_complete(out, tag);
}

}  // namespace pooler::admin
