// Config diffs for reload.
#include "pooler/config/reload_plan.hpp"

#include <algorithm>
#include <functional>
#include <memory>

#include "pooler/config/hba.hpp"
#include "pooler/config/ident_map.hpp"
#include "pooler/config/schema.hpp"

namespace pooler::config {

namespace {

// Entries equal but for where they stand in the file: moving a line changes nothing.
template <typename Entry>
bool same_entry(Entry a, Entry b) {
  a.line = b.line = 0;
  return a == b;
}

template <typename Entry>
bool same_entries(const std::map<std::string, Entry>& a, const std::map<std::string, Entry>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.first == y.first && same_entry(x.second, y.second);
  });
}

// Equal values, or both absent.
template <typename T, typename Equal>
bool same_loaded(const std::shared_ptr<const T>& a, const std::shared_ptr<const T>& b,
                 Equal equal) {
  if (!a || !b) return !a && !b;
  return equal(*a, *b);
}

// Ident entries as written (a compiled pattern is never equal to another compile of it).
bool same_ident(const IdentMaps& a, const IdentMaps& b) {
  return a.file == b.file &&
         std::equal(a.entries.begin(), a.entries.end(), b.entries.begin(), b.entries.end(),
                    [](const IdentEntry& x, const IdentEntry& y) {
                      return x.line == y.line && x.map == y.map && x.system_name == y.system_name &&
                             x.database_user == y.database_user;
                    });
}

void append_list(std::string& out, const char* label, const std::vector<std::string>& items) {
  if (items.empty()) return;
  if (!out.empty()) out += "; ";
  out += label;
  out += ": ";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
}

}  // namespace

ReloadPlan diff(const Config& running, const Config& next) {
  ReloadPlan plan;
  for (const auto& row : setting_rows()) {
    if (render_setting(row, running.settings) == render_setting(row, next.settings)) continue;
    (row.reloadable() ? plan.changed_settings : plan.needs_restart).emplace_back(row.key);
  }
  for (const auto& [name, entry] : next.databases) {
    auto it = running.databases.find(name);
    if (it == running.databases.end()) {
      plan.added_databases.push_back(name);
    } else if (!same_entry(it->second, entry)) {
      plan.changed_databases.push_back(name);
    }
  }
  for (const auto& [name, entry] : running.databases) {
    if (next.databases.count(name) == 0) plan.removed_databases.push_back(name);
  }
  plan.users_changed = !same_entries(running.users, next.users);
  plan.auth_file_changed = running.auth_users != next.auth_users;
  plan.hba_changed = !same_loaded(running.hba, next.hba, std::equal_to<HbaRules>()) ||
                     !same_loaded(running.ident_maps, next.ident_maps, same_ident);
  plan.alerts_changed = running.alerts != next.alerts;
  return plan;
}

void keep_restart_settings(const Config& running, Config& next) {
  for (const auto& row : setting_rows()) {
    if (!row.reloadable()) apply_setting(row, next.settings, render_setting(row, running.settings));
  }
}

bool ReloadPlan::empty() const {
  return changed_settings.empty() && needs_restart.empty() && added_databases.empty() &&
         removed_databases.empty() && changed_databases.empty() && !users_changed &&
         !auth_file_changed && !hba_changed && !alerts_changed;
}

std::string ReloadPlan::describe() const {
  std::string out;
  append_list(out, "settings changed", changed_settings);
  append_list(out, "kept until restart", needs_restart);
  append_list(out, "databases added", added_databases);
  append_list(out, "databases removed", removed_databases);
  append_list(out, "databases changed", changed_databases);
  if (users_changed) append_list(out, "users", {"changed"});
  // Which secrets changed is itself sensitive: say only that the file did.
  if (auth_file_changed) append_list(out, "auth_file", {"changed"});
  if (hba_changed) append_list(out, "hba", {"changed"});
  if (alerts_changed) append_list(out, "alerts", {"changed"});
  return out.empty() ? "no changes" : out;
}

}  // namespace pooler::config
