// The [pooler] settings schema: one row per key with its type, PgBouncer default, reload class,
// validation and place in Settings, so parsing, SHOW CONFIG and reload all read one table.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pooler/config/config.hpp"
#include "pooler/util/result.hpp"

namespace pooler::config {

enum class ValueType { kInt, kSeconds, kBool, kString, kList, kEnum };

// kRestart rows are PgBouncer's NR keys: a reload keeps the running value and says so.
enum class Reload { kLive, kRestart };

const char* to_string(ValueType type);

// Where a row's value lives in Settings; the alternative also fixes how the text is parsed.
using SettingField =
    std::variant<int Settings::*, std::int64_t Settings::*, double Settings::*, bool Settings::*,
                 std::string Settings::*, std::vector<std::string> Settings::*,
                 PoolMode Settings::*, AuthType Settings::*>;

struct SettingRow {
  std::string_view key;  // PgBouncer's spelling, lower case
  ValueType type = ValueType::kString;
  std::string_view default_text;  // as SHOW CONFIG prints it; equals render of Settings{}
  Reload reload = Reload::kLive;
  SettingField field;
  std::int64_t min = 0;  // kInt: the accepted range
  std::int64_t max = 0;
  std::vector<std::string_view> choices;  // kEnum kept as a string (sslmode, syslog_facility)
  bool file_mode = false;                 // unix_socket_mode: octal in and out
  // Free text (paths, queries, passwords in URLs): a ';' or '#' after a blank may belong to the
  // value, so a config file's text is kept as written. Every other row is a number, word or list
  // of names that cannot contain one, and the loader strips such an inline comment.
  bool free_text = false;
  // Replaces the choices check of a kEnum string row (syslog_facility's two spellings).
  util::Result<std::string> (*parse_text)(std::string_view text) = nullptr;

  bool reloadable() const { return reload == Reload::kLive; }
};

// Every row, in PgBouncer's documentation order; aliases (job_name) have their own row.
std::span<const SettingRow> setting_rows();

// The row for a key, matched case-insensitively as PgBouncer does; nullptr when unknown.
const SettingRow* find_setting(std::string_view key);

// Parses `text` into the row's field of `settings`; returns why it is invalid, leaving the field
// unchanged. The message may quote the text.
std::optional<std::string> apply_setting(const SettingRow& row, Settings& settings,
                                         std::string_view text);

// The field's current value as text, in the same form as default_text.
std::string render_setting(const SettingRow& row, const Settings& settings);
std::optional<std::string> render_setting(const Settings& settings, std::string_view key);

}  // namespace pooler::config
