// ReloadPlan: what a reload changes, worked out from the running and the new Config before any
// of it is applied, so the log says exactly what happened.
#pragma once

#include <string>
#include <vector>

#include "pooler/config/config.hpp"

namespace pooler::config {

struct ReloadPlan {
  std::vector<std::string> changed_settings;  // live keys that take their new value
  std::vector<std::string> needs_restart;     // NR keys: the running value stays
  std::vector<std::string> added_databases;
  std::vector<std::string> removed_databases;
  std::vector<std::string> changed_databases;
  bool users_changed = false;
  bool auth_file_changed = false;
  bool hba_changed = false;  // auth_type = hba: the rules or the ident maps
  bool alerts_changed = false;

  bool empty() const;
  // One line for the log: "settings: a, b; databases added: c; ...".
  std::string describe() const;
};

ReloadPlan diff(const Config& running, const Config& next);

// Gives `next` the running values of the keys that cannot change without a restart, as
// PgBouncer keeps them.
void keep_restart_settings(const Config& running, Config& next);

}  // namespace pooler::config
