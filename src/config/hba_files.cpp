// auth_hba_file and auth_ident_file, read from disk for the pure parsers beside this file.
#include "hba_files.hpp"

#include <memory>
#include <set>

#include "pooler/config/hba.hpp"
#include "pooler/config/ident_map.hpp"

namespace pooler::config {

namespace {

// An unreadable file is an error at the ini line that named it; nullopt then.
std::optional<std::string> read_named_file(const std::string& path, const Location& where,
                                           const char* key, std::vector<Diagnostic>& out) {
  util::Result<std::string> text = read_whole_file(path);
  if (!text) {
    out.push_back(make_diagnostic(Severity::kError, where, key,
                                  "cannot read '" + path + "': " + text.error()));
    return std::nullopt;
  }
  return *text;
}

// A map= no ident entry defines can only ever refuse: worth a warning, not a failed reload.
void warn_unknown_maps(const HbaRules& rules, const IdentMaps& maps, const std::string& ident_file,
                       std::vector<Diagnostic>& out) {
  std::set<std::string> defined;
  for (const IdentEntry& entry : maps.entries) defined.insert(entry.map);
  for (const HbaRule& rule : rules.rules) {
    if (rule.map.empty() || defined.count(rule.map) > 0) continue;
    std::string message = ident_file.empty()
                              ? "map=" + rule.map + " but auth_ident_file is not set"
                              : "map \"" + rule.map + "\" is not defined in " + ident_file;
    out.push_back(make_diagnostic(Severity::kWarning, {rules.file, rule.line}, "",
                                  message + "; this rule refuses every login"));
  }
}

}  // namespace

void load_hba_files(Config& config, const HbaFileKeys& keys, std::vector<Diagnostic>& out) {
  const Settings& settings = config.settings;
  if (settings.auth_type != AuthType::kHba) return;
  auto maps = std::make_shared<IdentMaps>();
  if (!settings.auth_ident_file.empty()) {
    if (auto text = read_named_file(settings.auth_ident_file, keys.ident_file, "auth_ident_file",
                                    out)) {
      *maps = parse_ident_text(*text, settings.auth_ident_file, out);
    }
  }
  // The cross-key check has already said that auth_type = hba needs the file.
  if (settings.auth_hba_file.empty()) return;
  std::optional<std::string> text =
      read_named_file(settings.auth_hba_file, keys.hba_file, "auth_hba_file", out);
  if (!text) return;
  HbaFileReader reader = [](const std::string& path) -> std::optional<std::string> {
    util::Result<std::string> included = read_whole_file(path);
    if (!included) return std::nullopt;
    return *included;
  };
  auto rules = std::make_shared<HbaRules>(
      parse_hba_text(*text, settings.auth_hba_file, reader, out));
  warn_unknown_maps(*rules, *maps, settings.auth_ident_file, out);
  config.hba = std::move(rules);
  config.ident_maps = std::move(maps);
}

}  // namespace pooler::config
