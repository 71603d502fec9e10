// Loading the files auth_type = hba reads: auth_hba_file (with its @files) and auth_ident_file.
// Private to the config module: load_config_file calls it after the ini is parsed.
#pragma once

#include <vector>

#include "ini_reader.hpp"
#include "pooler/config/config.hpp"

namespace pooler::config {

// Where the ini set the two keys, to name the line when a file cannot be read.
struct HbaFileKeys {
  Location hba_file;
  Location ident_file;
};

// With auth_type = hba, reads both files into config.hba and config.ident_maps. Every problem
// in them is a diagnostic naming its file and line; an unreadable file is an error at the ini
// line that named it. Other auth types read neither file.
void load_hba_files(Config& config, const HbaFileKeys& keys, std::vector<Diagnostic>& out);

}  // namespace pooler::config
