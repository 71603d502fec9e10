// Reading ini text as PgBouncer writes it: inih splits lines into section, key and value; a
// feeder in front of it supplies file:line, %include, long lines and PgBouncer's comment rules.
// Private to the config module: the loader interprets what this reads.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "pooler/config/diagnostics.hpp"
#include "pooler/util/result.hpp"

namespace pooler::config {

struct Location {
  std::string file;
  int line = 0;
};

// One `name = value` line as inih split it.
struct RawEntry {
  std::string section;  // lower case, brackets and spaces stripped
  std::string key;
  std::string value;  // as written after '=', trimmed; comments are the interpreter's business
  Location where;
};

// A file an %include named (read or not): config_watch watches it with the ini.
struct IncludedFile {
  std::string path;
};

// What the reader saw, in file order: entries for the interpreter and the reader's own diagnostics
// interleaved, so the diagnostics come out in the order of the lines they name.
using IniEvent = std::variant<RawEntry, Diagnostic, IncludedFile>;

// Reads `text` (named `file`) and every file it %includes.
std::vector<IniEvent> read_ini(const std::string& text, const std::string& file);

Diagnostic make_diagnostic(Severity severity, const Location& where, std::string key,
                           std::string message);

// The whole file, or the OS's reason it cannot be read.
util::Result<std::string> read_whole_file(const std::string& path);

bool is_space(char c);

}  // namespace pooler::config
