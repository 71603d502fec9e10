// Loading: PgBouncer-format ini text -> Config. The ini reader hands over raw entries with their
// file:line; the interpreter here applies them section by section and checks keys together.
#include "pooler/config/loader.hpp"

#include <map>
#include <optional>
#include <variant>

#include "conninfo.hpp"
#include "entry_params.hpp"
#include "hba_files.hpp"
#include "ini_reader.hpp"
#include "pooler/config/schema.hpp"
#include "pooler/config/spelling.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

const std::vector<std::string_view>& setting_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> all;
    for (const SettingRow& row : setting_rows()) {
      all.push_back(row.key);
    }
    return all;
  }();
  return keys;
}

// Turns raw entries into a Config, section by section, then checks keys against each other.
class Interpreter {
 public:
  Interpreter(LoadResult& result, std::string file) : result_(result), file_(std::move(file)) {}

  void apply(const RawEntry& raw) {
    if (raw.section == "pooler" || raw.section == "pgbouncer") {
      apply_setting_line(raw);
    } else if (raw.section == "databases") {
      apply_database(raw);
    } else if (raw.section == "users") {
      apply_user(raw);
    } else if (raw.section == "peers") {
      apply_peer(raw);
    } else if (raw.section == "alerts") {
      // Every [alerts] value is a number, duration, word or boolean: an inline comment cannot be
      // part of it.
      if (auto problem = apply_alert_setting(result_.config.alerts, raw.key,
                                             strip_inline_comment(raw.value))) {
        fail(raw.where, raw.key, *problem);
      }
    } else if (raw.section.empty()) {
      warn(raw.where, raw.key, "setting outside any section; ignored");
    }
    // Other sections were reported at their header.
  }

  void check_cross_keys() {
    const Settings& settings = result_.config.settings;
    for (const AlertRuleSettings& rule : result_.config.alerts) {
      if (auto problem = check_alert_rule(rule))
        fail({file_, 0}, rule.name, *problem);
    }
    const std::string& url = settings.alert_webhook_url;
    if (!url.empty() && url.rfind("http://", 0) != 0) {
      fail(where_set("alert_webhook_url"), "alert_webhook_url",
           "alert_webhook_url must start with http:// (https is not supported)");
    }
    const AuthType type = settings.auth_type;
    if ((type == AuthType::kMd5 || type == AuthType::kScramSha256 || type == AuthType::kPlain) &&
        settings.auth_file.empty()) {
      fail(where_set("auth_type"), "auth_file",
           std::string("auth_file is required for auth_type=") + to_string(type));
    }
    if (type == AuthType::kHba && settings.auth_hba_file.empty()) {
      fail(where_set("auth_type"), "auth_hba_file", "auth_hba_file is required for auth_type=hba");
    }
    if (type == AuthType::kAny) {
      // PgBouncer starts with such a database and refuses each of its logins; say so once here.
      for (const auto& [name, db] : result_.config.databases) {
        if (!db.user.empty()) continue;
        std::string which = name == "*" ? "databases served through \"*\"" : "database " + name;
        warn({file_, db.line}, name,
             "auth_type=any ignores the client's user name, so every database needs a forced "
             "user (user=); logins to " +
                 which + " are refused (\"bouncer config error\")");
      }
    }
    // The files themselves are loaded (and their permissions checked) when the TLS context is
    // built; here only what cannot work whatever the files hold.
    const std::string& client_mode = settings.client_tls_sslmode;
    if (client_mode != "disable" &&
        (settings.client_tls_key_file.empty() || settings.client_tls_cert_file.empty())) {
      fail(where_set("client_tls_sslmode"), "client_tls_sslmode",
           "client_tls_sslmode=" + client_mode +
               " needs client_tls_key_file and client_tls_cert_file");
    }
    if ((client_mode == "verify-ca" || client_mode == "verify-full") &&
        settings.client_tls_ca_file.empty()) {
      fail(where_set("client_tls_sslmode"), "client_tls_ca_file",
           "client_tls_sslmode=" + client_mode + " needs client_tls_ca_file to check client "
           "certificates against");
    }
    if (type == AuthType::kCert && client_mode != "verify-ca" && client_mode != "verify-full") {
      fail(where_set("auth_type"), "auth_type",
           "auth_type=cert needs client_tls_sslmode=verify-ca or verify-full");
    }
    if (settings.listen_addr.empty() && settings.unix_socket_dir.empty()) {
      const Location& where = where_set("listen_addr").line > 0 ? where_set("listen_addr")
                                                                : where_set("unix_socket_dir");
      fail(where, "listen_addr",
           "nothing to listen on: listen_addr and unix_socket_dir are both empty");
    }
  }

  // Where a [pooler] key was set; the file with no line when it was left at its default.
  const Location& where_set(const std::string& key) {
    auto found = setting_locations_.find(key);
    if (found == setting_locations_.end()) {
      found = setting_locations_.emplace(key, Location{file_, 0}).first;
    }
    return found->second;
  }

 private:
  void fail(const Location& where, std::string key, std::string message) {
    result_.diagnostics.push_back(
        make_diagnostic(Severity::kError, where, std::move(key), std::move(message)));
  }

  void warn(const Location& where, std::string key, std::string message) {
    result_.diagnostics.push_back(
        make_diagnostic(Severity::kWarning, where, std::move(key), std::move(message)));
  }

  void apply_setting_line(const RawEntry& raw) {
    const SettingRow* row = find_setting(raw.key);
    if (row == nullptr) {
      if (std::optional<std::string_view> ours = pooler_key_for_postgres_name(raw.key)) {
        row = find_setting(*ours);
        warn(raw.where, raw.key,
             "PostgreSQL's name for a pooler setting; applied as \"" + std::string(*ours) +
                 "\" (write that to silence this warning)");
      }
    }
    if (row == nullptr) {
      std::string message = "unknown setting; ignored";
      if (auto meant = one_edit_suggestion(raw.key, setting_keys())) {
        message += "; did you mean \"" + std::string(*meant) + "\"?";
      }
      warn(raw.where, raw.key, message);
      return;
    }
    std::string_view value = raw.value;
    if (!row->free_text) {
      value = strip_inline_comment(value);
    } else if (std::size_t at = inline_comment_at(value); at != std::string::npos) {
      // PgBouncer's rule: text keeps everything after '='. The value is not quoted back: it may
      // be a password (auth_ldap_options, a URL with credentials).
      warn(raw.where, std::string(row->key),
           std::string("'") + value[at] +
               "' after a blank is kept as part of this text value, not taken as a comment; "
               "put a comment on a line of its own");
    }
    if (std::optional<std::string> problem = apply_setting(*row, result_.config.settings, value)) {
      fail(raw.where, std::string(row->key), *problem);
      return;
    }
    setting_locations_[std::string(row->key)] = raw.where;
  }

  // Applies `name = k=v ...` to a fresh entry; false (with errors reported) if anything is wrong.
  template <typename Entry>
  bool fill_entry(const RawEntry& raw, const char* kind, Entry& entry) {
    util::Result<std::string> name = unquote_name(raw.key);
    if (!name || name->empty()) {
      fail(raw.where, raw.key, name ? std::string("empty ") + kind + " name" : name.error());
      return false;
    }
    entry.name = *name;
    entry.line = raw.where.line;
    auto pairs = parse_conninfo(raw.value);
    if (!pairs) {
      fail(raw.where, entry.name, pairs.error());
      return false;
    }
    bool ok = true;
    for (const auto& [key, value] : *pairs) {
      if (std::optional<std::string> problem = apply_entry_param(entry, key, value)) {
        fail(raw.where, entry.name, *problem);
        ok = false;
      }
    }
    return ok;
  }

  template <typename Entry>
  void store_entry(std::map<std::string, Entry>& entries, std::map<std::string, Location>& seen,
                   const Location& where, Entry entry, const char* kind) {
    auto earlier = seen.find(entry.name);
    if (earlier != seen.end()) {
      warn(where, entry.name,
           std::string(kind) + " defined again; this replaces the definition at " +
               earlier->second.file + ":" + std::to_string(earlier->second.line));
    }
    seen[entry.name] = where;
    entries[entry.name] = std::move(entry);
  }

  void apply_database(const RawEntry& raw) {
    DatabaseEntry entry;
    if (!fill_entry(raw, "database", entry)) {
      return;
    }
    if (entry.name == "pgbouncer" || entry.name == "pooler") {
      fail(raw.where, entry.name,
           "the database name '" + entry.name + "' is reserved for the admin console");
      return;
    }
    if (std::optional<std::string> problem = host_list_problem(entry)) {
      fail(raw.where, entry.name, *problem);
      return;
    }
    store_entry(result_.config.databases, database_locations_, raw.where, std::move(entry),
                "database");
  }

  void apply_user(const RawEntry& raw) {
    UserEntry entry;
    if (fill_entry(raw, "user", entry)) {
      store_entry(result_.config.users, user_locations_, raw.where, std::move(entry), "user");
    }
  }

  void apply_peer(const RawEntry& raw) {
    PeerEntry entry;
    if (!fill_entry(raw, "peer", entry)) return;
    // PgBouncer's range: the id travels in 16 bits of each cancel key, 0 meaning no peering.
    constexpr int kMaxPeerId = 16383;
    util::Result<std::int64_t> id = parse_int(entry.name, 1, kMaxPeerId);
    if (!id) {
      fail(raw.where, entry.name, "peer id: " + id.error());
      return;
    }
    if (entry.host.empty()) {
      fail(raw.where, entry.name, "host: a peer needs a host (an address, a name or /path)");
      return;
    }
    entry.id = static_cast<int>(*id);
    auto earlier = result_.config.peers.find(entry.id);
    if (earlier != result_.config.peers.end()) {
      warn(raw.where, entry.name,
           "peer defined again; this replaces the definition at " + file_ + ":" +
               std::to_string(earlier->second.line));
    }
    result_.config.peers[entry.id] = std::move(entry);
  }

  LoadResult& result_;
  std::string file_;
  std::map<std::string, Location> setting_locations_;
  std::map<std::string, Location> database_locations_;
  std::map<std::string, Location> user_locations_;
};

// Where the keys naming other files were set, for load_config_file to name the line when one
// cannot be read.
struct FileKeys {
  Location auth_file;
  HbaFileKeys hba;
};

LoadResult parse(const std::string& text, const std::string& file, FileKeys* keys) {
  LoadResult result;
  result.config.path = file;
  Interpreter interpreter(result, file);
  for (IniEvent& event : read_ini(text, file)) {
    if (auto* raw = std::get_if<RawEntry>(&event)) {
      interpreter.apply(*raw);
    } else if (auto* included = std::get_if<IncludedFile>(&event)) {
      result.config.included_files.push_back(std::move(included->path));
    } else {
      result.diagnostics.push_back(std::move(std::get<Diagnostic>(event)));
    }
  }
  interpreter.check_cross_keys();
  if (keys != nullptr) {
    keys->auth_file = interpreter.where_set("auth_file");
    keys->hba = {interpreter.where_set("auth_hba_file"), interpreter.where_set("auth_ident_file")};
  }
  return result;
}

}  // namespace

LoadResult parse_config_text(const std::string& text, const std::string& file) {
  return parse(text, file, nullptr);
}

LoadResult load_config_file(const std::string& path) {
  util::Result<std::string> text = read_whole_file(path);
  if (!text) {
    LoadResult result;
    result.config.path = path;
    result.diagnostics.push_back(
        Diagnostic{Severity::kError, path, 0, "", "cannot read config file: " + text.error()});
    return result;
  }
  FileKeys keys;
  LoadResult result = parse(*text, path, &keys);
  const std::string& auth_file = result.config.settings.auth_file;
  if (!auth_file.empty()) {
    util::Result<std::string> users = read_whole_file(auth_file);
    if (!users) {
      result.diagnostics.push_back(
          make_diagnostic(Severity::kError, keys.auth_file, "auth_file",
                          "cannot read '" + auth_file + "': " + users.error()));
    } else {
      result.config.auth_users = parse_auth_file_text(*users, auth_file, result.diagnostics);
    }
  }
  load_hba_files(result.config, keys.hba, result.diagnostics);
  return result;
}

}  // namespace pooler::config
