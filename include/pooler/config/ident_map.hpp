// IdentMaps: auth_ident_file in pg_ident.conf's format (`map system-name database-user`), which
// the hba methods peer and cert resolve names through (map=). A system name starting with '/' is
// a regular expression; its first parenthesized capture replaces \1 in the database user.
// Pure, like the hba parser beside it.
#pragma once

#include <memory>
#include <regex.h>

#include <string>
#include <vector>

#include "pooler/config/diagnostics.hpp"

namespace pooler::config {

struct IdentEntry {
  int line = 0;
  std::string map;
  std::string system_name;  // as written, '/' and all for a regular expression
  std::string database_user;
  std::shared_ptr<const regex_t> pattern;  // set for a regular expression (POSIX extended)
};

struct IdentMaps {
  std::string file;
  std::vector<IdentEntry> entries;
};

IdentMaps parse_ident_text(const std::string& text, const std::string& file,
                           std::vector<Diagnostic>& diagnostics);

// Whether `map` lets the OS or certificate name `system_name` log in as `database_user`.
bool ident_allows(const IdentMaps& maps, const std::string& map, const std::string& system_name,
                  const std::string& database_user);

}  // namespace pooler::config
