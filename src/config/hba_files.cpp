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

// Lines that can only ever refuse: worth a warning, not a failed reload. A map= no ident entry
// defines; cert without the client certificates that only the verify modes ask for.
void warn_dead_rules(const HbaRules& rules, const IdentMaps& maps, const Settings& settings,
                     std::vector<Diagnostic>& out) {
  const std::string& ident_file = settings.auth_ident_file;
  const std::string& tls_mode = settings.client_tls_sslmode;
  const bool certificates = tls_mode == "verify-ca" || tls_mode == "verify-full";
  std::set<std::string> defined;
  for (const IdentEntry& entry : maps.entries) defined.insert(entry.map);
  for (const HbaRule& rule : rules.rules) {
    if (rule.method == HbaMethod::kCert && !certificates) {
      out.push_back(make_diagnostic(Severity::kWarning, {rules.file, rule.line}, "",
                                    "cert needs client_tls_sslmode = verify-ca or verify-full "
                                    "(only they ask for client certificates); this rule refuses "
                                    "every login"));
    }
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
    if (auto text =
            read_named_file(settings.auth_ident_file, keys.ident_file, "auth_ident_file", out)) {
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
  auto rules =
      std::make_shared<HbaRules>(parse_hba_text(*text, settings.auth_hba_file, reader, out));
  warn_dead_rules(*rules, *maps, settings, out);
  config.hba = std::move(rules);
  config.ident_maps = std::move(maps);
}

}  // namespace pooler::config
