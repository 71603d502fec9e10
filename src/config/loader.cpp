// Loading: PgBouncer-format ini text -> Config. inih splits each line into section, key and value;
// a reader in front of it supplies file:line, %include, long lines and PgBouncer's comment rules.
#include "pooler/config/loader.hpp"

#include <ini.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <system_error>
#include <variant>

#include "pooler/config/schema.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

constexpr int kMaxIncludeDepth = 10;
constexpr long kMaxFileBytes = 64L * 1024 * 1024;
constexpr std::int64_t kIntMax = 2147483647;

// While inih reads a line these bytes stand in for characters it would treat specially: ';'
// after a space starts an inline comment (PgBouncer keeps it: `DISCARD ALL; ...`), '#' would end
// a long line's continuation, ':' before '=' would split the key. Control characters are refused
// in config text, so the stand-ins never collide with real input.
constexpr char kSemicolon = '\x01';
constexpr char kHash = '\x02';
constexpr char kColon = '\x03';

struct Location {
  std::string file;
  int line = 0;
};

// One `name = value` line as inih split it.
struct RawEntry {
  std::string section;  // lower case, brackets and spaces stripped
  std::string key;
  std::string value;
  Location where;
};

// What the parse saw, in file order: entries for the interpreter and the feeder's diagnostics
// interleaved, so the diagnostics come out in the order of the lines they name.
using Event = std::variant<RawEntry, Diagnostic>;

struct Source {
  std::string file;
  std::string text;
  std::size_t pos = 0;
  int line = 0;
};

Diagnostic make_diagnostic(Severity severity, const Location& where, std::string key,
                           std::string message) {
  return Diagnostic{severity, where.file, where.line, std::move(key), std::move(message)};
}

// The whole file, or the OS's reason it cannot be read.
util::Result<std::string> read_whole_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    return util::Error{std::error_code(errno, std::generic_category()).message()};
  }
  std::string text;
  char buffer[8192];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    text.append(buffer, got);
    if (static_cast<long>(text.size()) > kMaxFileBytes) {
      return util::Error{"file is larger than 64 MiB"};
    }
  }
  if (std::ferror(file.get())) {
    return util::Error{std::error_code(errno, std::generic_category()).message()};
  }
  return text;
}

std::string escape_for_inih(std::string_view line) {
  std::string escaped(line);
  std::size_t equals = escaped.find('=');
  for (std::size_t i = 1; i < escaped.size(); ++i) {
    if (escaped[i] == ';') {
      escaped[i] = kSemicolon;
    } else if (escaped[i] == '#') {
      escaped[i] = kHash;
    } else if (escaped[i] == ':' && i < equals) {
      escaped[i] = kColon;
    }
  }
  return escaped;
}

std::string unescape(std::string_view text) {
  std::string plain(text);
  for (char& c : plain) {
    c = c == kSemicolon ? ';' : c == kHash ? '#' : c == kColon ? ':' : c;
  }
  return plain;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// The ini_reader inih pulls lines from. It walks the source text (and %include files) one
// logical line at a time, keeps file:line for the handler, handles what PgBouncer's format needs
// and inih does not, and hands inih only clean `[section]` and `key = value` lines. Lines go in
// without their indentation, since PgBouncer has no continuation lines; the only indented lines
// inih sees are the pieces of a line longer than its fixed buffer, which the handler rejoins.
class LineFeeder {
 public:
  explicit LineFeeder(std::vector<Event>& events) : events_(events) {}

  void push(Source source) { sources_.push_back(std::move(source)); }

  static char* read(char* buffer, int size, void* self) {
    return static_cast<LineFeeder*>(self)->next(buffer, size);
  }

  // Where the line inih is processing came from.
  const Location& location() const { return location_; }
  // True while inih is processing the second or later piece of one long line.
  bool continuing() const { return continuing_; }

 private:
  char* next(char* buffer, int size) {
    while (queued_.empty()) {
      std::optional<std::string> line = next_logical_line();
      if (!line) {
        return nullptr;
      }
      accept(*line, size);
    }
    continuing_ = pieces_sent_ > 0;
    std::string piece = std::move(queued_.front());
    queued_.pop_front();
    ++pieces_sent_;
    std::memcpy(buffer, piece.c_str(), piece.size() + 1);
    return buffer;
  }

  std::optional<std::string> next_logical_line() {
    while (!sources_.empty()) {
      Source& source = sources_.back();
      if (source.pos >= source.text.size()) {
        sources_.pop_back();
        continue;
      }
      std::size_t end = source.text.find('\n', source.pos);
      if (end == std::string::npos) {
        end = source.text.size();
      }
      std::string_view line(source.text.data() + source.pos, end - source.pos);
      source.pos = end + 1;
      ++source.line;
      if (source.line == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") {
        line.remove_prefix(3);
      }
      location_ = Location{source.file, source.line};
      pieces_sent_ = 0;
      return std::string(trim(line));
    }
    return std::nullopt;
  }

  void error(std::string message) {
    events_.emplace_back(make_diagnostic(Severity::kError, location_, "", std::move(message)));
  }

  // Queues the pieces of one logical line for inih, or reports why the line is not used.
  void accept(const std::string& line, int size) {
    if (line.empty() || line[0] == ';' || line[0] == '#') {
      return;
    }
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        error("control character (code " + std::to_string(static_cast<int>(c)) +
              ") in line; the line is ignored");
        return;
      }
    }
    if (line.rfind("%include", 0) == 0 && (line.size() == 8 || is_space(line[8]))) {
      include(std::string(trim(std::string_view(line).substr(8))));
      return;
    }
    if (line[0] == '[') {
      if (line.back() != ']') {
        error("section header must end with ']'; the line is ignored");
        return;
      }
      std::string section = to_lower(trim(std::string_view(line).substr(1, line.size() - 2)));
      if (section != "pooler" && section != "pgbouncer" && section != "databases" &&
          section != "users" && section != "peers" && section != "alerts") {
        events_.emplace_back(
            make_diagnostic(Severity::kWarning, location_, "",
                            "unknown section [" + section + "]; its lines are ignored"));
      }
      split_into_pieces("[" + escape_for_inih(section) + "]", std::string::npos, size);
      return;
    }
    std::size_t equals = line.find('=');
    if (equals == std::string::npos) {
      // The line itself is not quoted back: it may be a password with a typo.
      error("expected 'name = value'; the line is ignored");
      return;
    }
    if (trim(std::string_view(line).substr(0, equals)).empty()) {
      error("missing name before '='; the line is ignored");
      return;
    }
    split_into_pieces(escape_for_inih(line), equals, size);
  }

  void include(const std::string& path) {
    if (path.empty()) {
      error("%include needs a file name");
      return;
    }
    if (sources_.size() > kMaxIncludeDepth) {
      error("%include nested more than " + std::to_string(kMaxIncludeDepth) +
            " deep (an include loop?); '" + path + "' is not read");
      return;
    }
    util::Result<std::string> text = read_whole_file(path);
    if (!text) {
      error("cannot read included file '" + path + "': " + text.error());
      return;
    }
    sources_.push_back(Source{path, std::move(*text)});
  }

  // inih reads into a buffer of `size` bytes (200 in Debian's build): a longer line is cut into
  // pieces at points between two non-blank characters (inih trims each piece), the later ones
  // indented so inih passes them on as continuations of the same key (inih's default
  // ini_allow_multiline, which nothing in pooler changes).
  void split_into_pieces(const std::string& line, std::size_t equals, int size) {
    const std::size_t first_cap = size > 8 ? static_cast<std::size_t>(size) - 2 : 0;
    const std::size_t later_cap = first_cap > 2 ? first_cap - 2 : 0;
    if (line.size() <= first_cap) {
      queued_.push_back(line + "\n");
      return;
    }
    std::deque<std::string> pieces;
    std::size_t pos = 0;
    while (pos < line.size()) {
      const bool first = pos == 0;
      const std::size_t cap = first ? first_cap : later_cap;
      std::size_t end = 0;
      if (line.size() - pos <= cap) {
        end = line.size();
      } else if (equals != std::string::npos) {
        const std::size_t lowest = first ? equals + 1 : pos + 1;
        for (std::size_t at = pos + cap; at >= lowest; --at) {
          if (!is_space(line[at - 1]) && !is_space(line[at])) {
            end = at;
            break;
          }
        }
      }
      if (end == 0) {
        error("line is too long to read (" + std::to_string(line.size()) +
              " characters); the line is ignored");
        return;
      }
      std::string piece = line.substr(pos, end - pos) + "\n";
      pieces.push_back(first ? piece : "  " + piece);
      pos = end;
    }
    queued_.insert(queued_.end(), pieces.begin(), pieces.end());
  }

  std::vector<Event>& events_;
  std::vector<Source> sources_;
  std::deque<std::string> queued_;
  Location location_;
  int pieces_sent_ = 0;
  bool continuing_ = false;
};

struct ParseRun {
  std::vector<Event> events;
  LineFeeder feeder{events};
};

int on_ini_entry(void* user, const char* section, const char* name, const char* value) {
  auto& run = *static_cast<ParseRun*>(user);
  if (run.feeder.continuing()) {
    // The feeder queues a long line's pieces back to back, so its entry is the last event.
    if (auto* entry = run.events.empty() ? nullptr : std::get_if<RawEntry>(&run.events.back())) {
      entry->value += unescape(value);
    }
    return 1;
  }
  run.events.emplace_back(RawEntry{to_lower(trim(unescape(section))), unescape(name),
                                   unescape(value), run.feeder.location()});
  return 1;
}

// `name` or `"quoted name"` ("" inside quotes is one quote), as PgBouncer's identifiers.
util::Result<std::string> unquote_name(std::string_view text) {
  if (text.empty() || text[0] != '"') {
    return std::string(text);
  }
  std::string name;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text[i] != '"') {
      name += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == '"') {
      name += '"';
      ++i;
    } else if (i + 1 == text.size()) {
      return name;
    } else {
      return util::Error{"unexpected text after the closing quote of the name"};
    }
  }
  return util::Error{"unterminated quoted name"};
}

// libpq's conninfo syntax: `key=value` pairs split by blanks; a value may be single-quoted with
// \' or '' for a quote; a backslash escapes the next character. Messages name keys only: a stray
// word is likely the rest of an unquoted password.
util::Result<std::vector<std::pair<std::string, std::string>>> parse_conninfo(
    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string previous_key;
  std::size_t pos = 0;
  auto skip_blanks = [&] {
    while (pos < text.size() && is_space(text[pos])) {
      ++pos;
    }
  };
  while (true) {
    skip_blanks();
    if (pos >= text.size()) {
      return pairs;
    }
    std::size_t key_start = pos;
    while (pos < text.size() && !is_space(text[pos]) && text[pos] != '=') {
      ++pos;
    }
    std::string key = to_lower(text.substr(key_start, pos - key_start));
    skip_blanks();
    if (pos >= text.size() || text[pos] != '=') {
      if (previous_key.empty()) {
        return util::Error{"expected key=value pairs"};
      }
      return util::Error{"expected key=value after the value of '" + previous_key +
                         "' (quote values that contain spaces)"};
    }
    ++pos;
    skip_blanks();
    std::string value;
    if (pos < text.size() && text[pos] == '\'') {
      ++pos;
      bool closed = false;
      while (pos < text.size() && !closed) {
        char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
          value += text[pos++];
        } else if (c == '\'' && pos < text.size() && text[pos] == '\'') {
          value += '\'';
          ++pos;
        } else if (c == '\'') {
          closed = true;
        } else {
          value += c;
        }
      }
      if (!closed) {
        return util::Error{"unterminated quoted value for '" + key + "'"};
      }
    } else {
      while (pos < text.size() && !is_space(text[pos])) {
        char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
          c = text[pos++];
        }
        value += c;
      }
    }
    previous_key = key;
    pairs.emplace_back(std::move(key), std::move(value));
  }
}

// One key of a [databases] or [users] entry and where its value goes.
template <typename Entry>
struct EntryParam {
  std::string_view key;
  std::variant<std::string Entry::*, int Entry::*, std::optional<int> Entry::*,
               std::optional<double> Entry::*, std::optional<PoolMode> Entry::*>
      field;
  std::int64_t min = 0;
  std::int64_t max = kIntMax;
  bool minus_one_unsets = false;          // query_wait_timeout=-1: use the [pooler] value
  std::vector<std::string_view> choices;  // a string field limited to these values
};

template <typename Entry, typename Field>
EntryParam<Entry> param(std::string_view key, Field Entry::*field, std::int64_t min = 0,
                        std::int64_t max = kIntMax) {
  EntryParam<Entry> row;
  row.key = key;
  row.field = field;
  row.min = min;
  row.max = max;
  return row;
}

template <typename Entry>
EntryParam<Entry> minus_one_unsets(EntryParam<Entry> row) {
  row.minus_one_unsets = true;
  return row;
}

template <typename Entry>
EntryParam<Entry> with_choices(EntryParam<Entry> row, std::vector<std::string_view> choices) {
  row.choices = std::move(choices);
  return row;
}

template <typename Entry>
std::optional<std::string> apply_param(const EntryParam<Entry>& param, Entry& entry,
                                       const std::string& value) {
  if (auto* field = std::get_if<std::string Entry::*>(&param.field)) {
    if (param.choices.empty()) {
      entry.*(*field) = value;
      return std::nullopt;
    }
    auto parsed = parse_choice(value, param.choices);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = *parsed;
  } else if (auto* field = std::get_if<int Entry::*>(&param.field)) {
    auto parsed = parse_int(value, param.min, param.max);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = static_cast<int>(*parsed);
  } else if (auto* field = std::get_if<std::optional<int> Entry::*>(&param.field)) {
    auto parsed = parse_int(value, param.min, param.max);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = static_cast<int>(*parsed);
  } else if (auto* field = std::get_if<std::optional<double> Entry::*>(&param.field)) {
    if (param.minus_one_unsets && trim(value) == "-1") {
      entry.*(*field) = std::nullopt;
      return std::nullopt;
    }
    auto parsed = parse_seconds(value);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = *parsed;
  } else if (auto* field = std::get_if<std::optional<PoolMode> Entry::*>(&param.field)) {
    auto parsed = parse_pool_mode(value);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = *parsed;
  }
  return std::nullopt;
}

const std::vector<EntryParam<DatabaseEntry>>& database_params() {
  using D = DatabaseEntry;
  static const std::vector<EntryParam<D>> params = {
      param("host", &D::host),
      param("port", &D::port, 1, 65535),
      param("dbname", &D::dbname),
      param("user", &D::user),
      param("password", &D::password),
      param("auth_user", &D::auth_user),
      param("auth_query", &D::auth_query),
      param("auth_dbname", &D::auth_dbname),
      param("pool_size", &D::pool_size),
      param("min_pool_size", &D::min_pool_size),
      param("reserve_pool", &D::reserve_pool_size),
      param("reserve_pool_size", &D::reserve_pool_size),
      param("pool_mode", &D::pool_mode),
      param("max_db_connections", &D::max_db_connections),
      param("max_db_client_connections", &D::max_db_client_connections),
      param("server_lifetime", &D::server_lifetime),
      minus_one_unsets(param("query_wait_timeout", &D::query_wait_timeout)),
      param("connect_query", &D::connect_query),
      param("client_encoding", &D::client_encoding),
      param("datestyle", &D::datestyle),
      param("timezone", &D::timezone),
      param("application_name", &D::application_name),
      with_choices(param("load_balance_hosts", &D::load_balance_hosts), {"round-robin", "disable"}),
  };
  return params;
}

const std::vector<EntryParam<UserEntry>>& user_params() {
  using U = UserEntry;
  static const std::vector<EntryParam<U>> params = {
      param("pool_mode", &U::pool_mode),
      param("pool_size", &U::pool_size),
      param("reserve_pool_size", &U::reserve_pool_size),
      param("max_user_connections", &U::max_user_connections),
      param("max_user_client_connections", &U::max_user_client_connections),
      param("query_timeout", &U::query_timeout),
      param("query_wait_timeout", &U::query_wait_timeout),
      param("idle_transaction_timeout", &U::idle_transaction_timeout),
      param("transaction_timeout", &U::transaction_timeout),
      param("client_idle_timeout", &U::client_idle_timeout),
  };
  return params;
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
    } else if (raw.section == "alerts") {
      if (auto problem = apply_alert_setting(result_.config.alerts, raw.key, raw.value)) {
        fail(raw.where, raw.key, *problem);
      }
    } else if (raw.section.empty()) {
      warn(raw.where, raw.key, "setting outside any section; ignored");
    }
    // [peers] is accepted and ignored; other sections were reported at their header.
  }

  void check_cross_keys() {
    const Settings& settings = result_.config.settings;
    for (const AlertRuleSettings& rule : result_.config.alerts) {
      if (auto problem = check_alert_rule(rule)) fail({file_, 0}, rule.name, *problem);
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
    // Until TLS lands, a mode that promises encryption must not quietly admit plain text.
    for (const auto& [key, mode] : {std::pair{"client_tls_sslmode", settings.client_tls_sslmode},
                                     std::pair{"server_tls_sslmode", settings.server_tls_sslmode}}) {
      if (mode != "disable" && mode != "allow" && mode != "prefer") {
        fail(where_set(key), key, std::string(key) + "=" + mode + " needs TLS, not supported yet");
      }
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
      warn(raw.where, raw.key, "unknown setting; ignored");
      return;
    }
    if (std::optional<std::string> problem =
            apply_setting(*row, result_.config.settings, raw.value)) {
      fail(raw.where, std::string(row->key), *problem);
      return;
    }
    setting_locations_[std::string(row->key)] = raw.where;
  }

  // Applies `name = k=v ...` to a fresh entry; false (with errors reported) if anything is wrong.
  template <typename Entry>
  bool fill_entry(const RawEntry& raw, const std::vector<EntryParam<Entry>>& params,
                  const char* kind, Entry& entry) {
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
      // Clang 14 (the fuzz build) cannot capture a structured binding; a reference to it it can.
      const std::string& wanted = key;
      auto param = std::find_if(params.begin(), params.end(),
                                [&](const EntryParam<Entry>& p) { return p.key == wanted; });
      if (param == params.end()) {
        fail(raw.where, entry.name, "unknown parameter '" + key + "' in " + kind + " entry");
        ok = false;
      } else if (std::optional<std::string> problem = apply_param(*param, entry, value)) {
        fail(raw.where, entry.name, key + ": " + *problem);
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
    if (!fill_entry(raw, database_params(), "database", entry)) {
      return;
    }
    if (entry.name == "pgbouncer" || entry.name == "pooler") {
      fail(raw.where, entry.name,
           "the database name '" + entry.name + "' is reserved for the admin console");
      return;
    }
    store_entry(result_.config.databases, database_locations_, raw.where, std::move(entry),
                "database");
  }

  void apply_user(const RawEntry& raw) {
    UserEntry entry;
    if (fill_entry(raw, user_params(), "user", entry)) {
      store_entry(result_.config.users, user_locations_, raw.where, std::move(entry), "user");
    }
  }

  LoadResult& result_;
  std::string file_;
  std::map<std::string, Location> setting_locations_;
  std::map<std::string, Location> database_locations_;
  std::map<std::string, Location> user_locations_;
};

// Parses `text` and says where auth_file was set, which load_config_file needs to name the line
// when the file cannot be read.
LoadResult parse(const std::string& text, const std::string& file, Location* auth_file_at) {
  LoadResult result;
  result.config.path = file;
  ParseRun run;
  run.feeder.push(Source{file, text});
  // Every malformed line is reported by the feeder and never reaches inih, and the handler
  // accepts everything, so inih's own error return carries nothing new.
  ini_parse_stream(&LineFeeder::read, &run.feeder, &on_ini_entry, &run);

  Interpreter interpreter(result, file);
  for (Event& event : run.events) {
    if (auto* raw = std::get_if<RawEntry>(&event)) {
      interpreter.apply(*raw);
    } else {
      result.diagnostics.push_back(std::move(std::get<Diagnostic>(event)));
    }
  }
  interpreter.check_cross_keys();
  if (auth_file_at != nullptr) {
    *auth_file_at = interpreter.where_set("auth_file");
  }
  return result;
}

// Reads one "quoted" field of an auth_file line at `pos`; "" inside is a quote.
std::optional<std::string> read_quoted(std::string_view line, std::size_t& pos,
                                       bool& unterminated) {
  unterminated = false;
  if (pos >= line.size() || line[pos] != '"') {
    return std::nullopt;
  }
  std::string field;
  for (++pos; pos < line.size(); ++pos) {
    if (line[pos] != '"') {
      field += line[pos];
    } else if (pos + 1 < line.size() && line[pos + 1] == '"') {
      field += '"';
      ++pos;
    } else {
      ++pos;
      return field;
    }
  }
  unterminated = true;
  return std::nullopt;
}

bool is_base64(std::string_view text) {
  return !text.empty() && text.find_first_not_of(
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789+/=") == std::string_view::npos;
}

// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, all keys base64.
bool is_scram_verifier(std::string_view secret) {
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  secret.remove_prefix(kPrefix.size());
  std::size_t colon = secret.find(':');
  std::size_t dollar = secret.find('$');
  if (colon == std::string_view::npos || dollar == std::string_view::npos || dollar < colon) {
    return false;
  }
  std::string_view iterations = secret.substr(0, colon);
  std::string_view salt = secret.substr(colon + 1, dollar - colon - 1);
  std::string_view keys = secret.substr(dollar + 1);
  std::size_t key_colon = keys.find(':');
  return !iterations.empty() && parse_int(iterations, 1, kIntMax).ok() && is_base64(salt) &&
         key_colon != std::string_view::npos && is_base64(keys.substr(0, key_colon)) &&
         is_base64(keys.substr(key_colon + 1));
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
  Location auth_file_at;
  LoadResult result = parse(*text, path, &auth_file_at);
  const std::string& auth_file = result.config.settings.auth_file;
  if (!auth_file.empty()) {
    util::Result<std::string> users = read_whole_file(auth_file);
    if (!users) {
      result.diagnostics.push_back(
          make_diagnostic(Severity::kError, auth_file_at, "auth_file",
                          "cannot read '" + auth_file + "': " + users.error()));
    } else {
      result.config.auth_users = parse_auth_file_text(*users, auth_file, result.diagnostics);
    }
  }
  return result;
}

std::map<std::string, UserSecret> parse_auth_file_text(const std::string& text,
                                                       const std::string& file,
                                                       std::vector<Diagnostic>& diagnostics) {
  std::map<std::string, UserSecret> users;
  std::map<std::string, int> seen_at;
  int line_number = 0;
  // A byte-order mark (some Windows editors write one) would make line 1 unreadable; the config
  // reader skips it too.
  std::size_t pos = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line = trim(std::string_view(text).substr(pos, end - pos));
    pos = end + 1;
    ++line_number;
    if (line.empty() || line[0] == ';' || line[0] == '#') {
      continue;
    }
    const Location where{file, line_number};
    // No message below quotes the line: everything after the user name may be a secret.
    auto fail = [&](std::string message) {
      diagnostics.push_back(make_diagnostic(Severity::kError, where, "", std::move(message)));
    };
    std::size_t at = 0;
    bool unterminated = false;
    std::optional<std::string> user = read_quoted(line, at, unterminated);
    if (!user) {
      fail(unterminated ? "unterminated quoted user name"
                        : "expected a line of the form \"user\" \"password\"");
      continue;
    }
    if (user->empty()) {
      fail("empty user name");
      continue;
    }
    while (at < line.size() && is_space(line[at])) {
      ++at;
    }
    std::optional<std::string> secret = read_quoted(line, at, unterminated);
    if (!secret) {
      fail("user \"" + *user + "\": " +
           (unterminated ? "unterminated quoted password" : "expected a double-quoted password"));
      continue;
    }
    if (secret->rfind("SCRAM-SHA-256$", 0) == 0 && !is_scram_verifier(*secret)) {
      diagnostics.push_back(make_diagnostic(
          Severity::kWarning, where, "",
          "user \"" + *user +
              "\": the password looks like a SCRAM verifier but is malformed; it is taken as "
              "plain text"));
    }
    auto earlier = seen_at.find(*user);
    if (earlier != seen_at.end()) {
      diagnostics.push_back(make_diagnostic(Severity::kWarning, where, "",
                                            "user \"" + *user +
                                                "\" listed again; this replaces line " +
                                                std::to_string(earlier->second)));
    }
    seen_at[*user] = line_number;
    users[*user] = UserSecret{*user, std::move(*secret)};
  }
  return users;
}

}  // namespace pooler::config
