// ResultTable: a console answer as columns and rows, and its wire form (RowDescription, DataRows,
// CommandComplete). Column types follow PgBouncer's console so tools reading by type keep working.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pooler::admin {

enum class ColumnType { kText, kInt4, kInt8, kNumeric, kTimestamp };

struct Column {
  std::string name;
  ColumnType type = ColumnType::kText;
};

using Cell = std::optional<std::string>;  // nullopt is SQL NULL

struct ResultTable {
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;

  void add_row(std::vector<Cell> row) { rows.push_back(std::move(row)); }
};

// Appends RowDescription (only with describe=true), the DataRows and CommandComplete `tag`.
void append_table(std::string& out, const ResultTable& table, std::string_view tag,
                  bool describe = true);
void append_row_description(std::string& out, const ResultTable& table);
void append_command_complete(std::string& out, std::string_view tag);

}  // namespace pooler::admin
