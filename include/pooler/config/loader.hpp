// Loading: ini text (PgBouncer's format) -> Config plus every diagnostic found along the way.
#pragma once

#include <string>
#include <vector>

#include "pooler/config/config.hpp"
#include "pooler/config/diagnostics.hpp"

namespace pooler::config {

struct LoadResult {
  Config config;
  std::vector<Diagnostic> diagnostics;
  bool ok() const { return !has_errors(diagnostics); }
};

// Parses ini text; `file` is only used to name the source in diagnostics and to resolve
// relative paths (%include, auth_file are resolved against the current directory, as PgBouncer).
// Does not read auth_file or the hba files.
LoadResult parse_config_text(const std::string& text, const std::string& file);

// Reads and parses the file, then loads settings.auth_file (if set) into auth_users and, with
// auth_type = hba, auth_hba_file and auth_ident_file into hba and ident_maps. An unreadable file
// is an error diagnostic, never an exception; so is any error inside the hba or ident file.
LoadResult load_config_file(const std::string& path);

// Parses auth_file text (userlist.txt format) into entries, with diagnostics for bad lines.
std::map<std::string, UserSecret> parse_auth_file_text(const std::string& text,
                                                       const std::string& file,
                                                       std::vector<Diagnostic>& diagnostics);

}  // namespace pooler::config
