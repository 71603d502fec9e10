// Console command dispatch: split the statement, find its row, check access, run it.
#include "pooler/admin/console.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>
#include <vector>

#include "pooler/admin/peer_views.hpp"
#include "pooler/admin/socket_views.hpp"
#include "pooler/admin/views.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::admin {

namespace {

using frontend::ConsoleReply;
using frontend::ConsoleRole;
namespace ss = protocol::sqlstate;

struct ShowCommand {
  std::string_view name;
  ResultTable (*view)(const Snapshot&);
};

constexpr ShowCommand kShowCommands[] = {
    {"POOLS", show_pools},
    {"CLIENTS", show_clients},
    {"SERVERS", show_servers},
    {"DATABASES", show_databases},
    {"USERS", show_users},
    {"CONFIG", show_config},
    {"STATE", show_state},
    {"LISTS", show_lists},
    {"VERSION", show_version},
    {"STATS", show_stats},
    {"STATS_TOTALS", show_stats_totals},
    {"STATS_AVERAGES", show_stats_averages},
    {"TOTALS", show_totals},
    {"MEM", show_mem},
    {"ALERTS", show_alerts},
    {"SOCKETS", show_sockets},
    {"ACTIVE_SOCKETS", show_active_sockets},
    {"DNS_HOSTS", show_dns_hosts},
    {"DNS_ZONES", show_dns_zones},
    {"PEERS", show_peers},
    {"PEER_POOLS", show_peer_pools},
};

// PgBouncer commands this console does not have, refused by name so nobody mistakes them for
// typos: FDS hands sockets over in PgBouncer's fd-passing restart, which pooler's -R does
// without.
constexpr std::string_view kUnsupported[] = {"SHOW FDS"};

constexpr std::string_view kHelp =
    "Console usage\n"
    "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
    "\tSHOW LISTS|MEM|STATE|ALERTS|SOCKETS|ACTIVE_SOCKETS|DNS_HOSTS|DNS_ZONES|PEERS|PEER_POOLS\n"
    "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
    "\tSET key = arg\n"
    "\tRELOAD\n"
    "\tPAUSE [<db>]\n"
    "\tRESUME [<db>]\n"
    "\tSUSPEND\n"
    "\tDISABLE <db>\n"
    "\tENABLE <db>\n"
    "\tRECONNECT [<db>]\n"
    "\tKILL [<db>]\n"
    "\tKILL_CLIENT <id>\n"
    "\tSHUTDOWN\n"
    "\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS|DRAIN\n"
    "\tWAIT_CLOSE [<db>]\n"
    "\tBEGIN|COMMIT|ROLLBACK (accepted for drivers, no effect)";

// What separates the words of a statement.
bool is_separator(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == ';';
}

// The statement's words as written (database names are case-sensitive), without a trailing ';'.
std::vector<std::string> words_of(std::string_view statement) {
  std::vector<std::string> words;
  std::string word;
  for (char c : statement) {
    if (is_separator(c)) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

ConsoleReply error(const char* sqlstate, const std::string& message,
                   const std::string& detail = {}) {
  ConsoleReply reply;
  protocol::append_error(reply.messages, protocol::ErrorSeverity::kError, sqlstate, message,
                         detail);
  return reply;
}

ConsoleReply completed(Outcome outcome, std::string_view tag) {
  if (outcome.sqlstate != nullptr) return error(outcome.sqlstate, outcome.error, outcome.detail);
  ConsoleReply reply;
  append_command_complete(reply.messages, tag);
  reply.ready = std::move(outcome.ready);
  return reply;
}

// "SET key = value" or "SET key TO value"; the value may be quoted with '' as in SQL.
std::optional<std::pair<std::string, std::string>> parse_set(std::string_view statement) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  std::string_view rest = trim(statement.substr(3));
  while (!rest.empty() && rest.back() == ';') rest = trim(rest.substr(0, rest.size() - 1));
  std::size_t eq = rest.find('=');
  std::string_view key;
  std::string_view value;
  if (eq != std::string_view::npos) {
    key = trim(rest.substr(0, eq));
    value = trim(rest.substr(eq + 1));
  } else {
    std::size_t to = upper(std::string(rest)).find(" TO ");
    if (to == std::string::npos) return std::nullopt;
    key = trim(rest.substr(0, to));
    value = trim(rest.substr(to + 4));
  }
  if (key.empty() || key.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  std::string unquoted;
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
    for (std::size_t i = 1; i + 1 < value.size(); ++i) {
      unquoted.push_back(value[i]);
      if (value[i] == '\'' && value[i + 1] == '\'') ++i;
    }
  } else {
    unquoted = std::string(value);
  }
  return std::make_pair(std::string(key), unquoted);
}

// BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK and ABORT with their optional words: the tag
// PostgreSQL answers them with, nullopt for anything else. DB-API drivers without autocommit
// (psycopg2, psycopg 3) send BEGIN before the first statement and COMMIT or ROLLBACK after; the
// console has no transactions, so these succeed and change nothing, for stats users too.
std::optional<std::string_view> transaction_tag(const std::vector<std::string>& words) {
  std::vector<std::string> rest;  // upper case, commas split off (BEGIN READ ONLY, DEFERRABLE)
  for (const std::string& word : words) {
    std::string part;
    for (char c : upper(word) + ",") {
      if (c != ',') {
        part.push_back(c);
      } else if (!part.empty()) {
        rest.push_back(std::exchange(part, {}));
      }
    }
  }
  auto optional_word = [&](std::size_t at, std::initializer_list<std::string_view> allowed) {
    return at < rest.size() && std::find(allowed.begin(), allowed.end(), rest[at]) != allowed.end()
               ? at + 1
               : at;
  };
  if (rest.empty()) {
    return std::nullopt;
  }
  const std::string& command = rest[0];
  if (command == "BEGIN" || (command == "START" && rest.size() >= 2 && rest[1] == "TRANSACTION")) {
    constexpr std::string_view kModeWords[] = {
        "ISOLATION",   "LEVEL", "SERIALIZABLE", "REPEATABLE", "READ",      "COMMITTED",
        "UNCOMMITTED", "WRITE", "ONLY",         "NOT",        "DEFERRABLE"};
    std::size_t at = command == "BEGIN" ? optional_word(1, {"WORK", "TRANSACTION"}) : 2;
    for (; at < rest.size(); ++at) {
      if (std::find(std::begin(kModeWords), std::end(kModeWords), rest[at]) ==
          std::end(kModeWords)) {
        return std::nullopt;
      }
    }
    return command == "BEGIN" ? "BEGIN" : "START TRANSACTION";
  }
  if (command == "COMMIT" || command == "END" || command == "ROLLBACK" || command == "ABORT") {
    // Not ROLLBACK TO SAVEPOINT or COMMIT PREPARED: those name things the console does not have.
    std::size_t at = optional_word(1, {"WORK", "TRANSACTION"});
    if (at < rest.size() && rest[at] == "AND") {
      at = optional_word(at + 1, {"NO"});
      if (at >= rest.size() || rest[at] != "CHAIN") {
        return std::nullopt;
      }
      ++at;
    }
    if (at != rest.size()) {
      return std::nullopt;
    }
    return command == "COMMIT" || command == "END" ? "COMMIT" : "ROLLBACK";
  }
  return std::nullopt;
}

}  // namespace

Console::Console(Controls& controls, std::string version)
    : controls_(controls), version_(std::move(version)) {}

std::string Console::server_version() const { return version_ + "/pooler"; }

ConsoleReply Console::execute(std::string_view statement, ConsoleRole role) {
  auto words = words_of(statement);
  if (words.empty()) {
    ConsoleReply reply;
    reply.messages.push_back('I');  // EmptyQueryResponse
    reply.messages.append({0, 0, 0, 4});
    return reply;
  }
  if (auto tag = transaction_tag(words)) {
    ConsoleReply reply;
    append_command_complete(reply.messages, *tag);
    return reply;
  }
  std::string command = upper(words[0]);
  // PgBouncer routes SELECT to SHOW, so monitoring probes written as SELECT keep working.
  bool is_show = command == "SHOW" || command == "SELECT";
  if (is_show && words.size() == 2) {
    std::string what = upper(words[1]);
    if (what == "HELP") {
      ConsoleReply reply;
      protocol::append_notice(reply.messages, kHelp);
      append_command_complete(reply.messages, "SHOW");
      return reply;
    }
    for (const auto& show : kShowCommands) {
      if (what == show.name) {
        ConsoleReply reply;
        append_table(reply.messages, show.view(controls_.snapshot()), "SHOW");
        return reply;
      }
    }
  }
  std::string joined = is_show && words.size() >= 2 ? "SHOW " + upper(words[1]) : command;
  if (std::find(std::begin(kUnsupported), std::end(kUnsupported), joined) !=
      std::end(kUnsupported)) {
    return error(ss::kFeatureNotSupported, joined + " is not supported by pooler");
  }
  if (is_show) return error(ss::kSyntaxError, "invalid SHOW command");
  if (role != ConsoleRole::kAdmin) return error(ss::kInsufficientPrivilege, "admin access needed");

  std::size_t args = words.size() - 1;
  Database database = args >= 1 ? Database(words[1]) : std::nullopt;
  auto usage = [&](const char* form) {
    return error(ss::kSyntaxError, std::string("usage: ") + form);
  };
  if (database && (*database == "pgbouncer" || *database == "pooler")) {
    // PgBouncer's refusals for its own admin database.
    static constexpr std::pair<std::string_view, std::string_view> kVerbs[] = {
        {"PAUSE", "pause"},     {"RECONNECT", "reconnect"}, {"WAIT_CLOSE", "wait in"},
        {"KILL", "kill"},       {"DISABLE", "disable"},     {"ENABLE", "enable"}};
    for (const auto& [name, verb] : kVerbs) {
      if (command == name) {
        return error(ss::kObjectNotInPrerequisiteState,
                     "cannot " + std::string(verb) + " admin db: " + *database);
      }
    }
  }
  if (command == "PAUSE" || command == "RESUME" || command == "RECONNECT" ||
      command == "WAIT_CLOSE" || command == "KILL") {
    if (args > 1) return usage((command + " [<db>]").c_str());
    if (command == "PAUSE") return completed(controls_.pause(database), command);
    if (command == "RESUME") return completed(controls_.resume(database), command);
    if (command == "RECONNECT") return completed(controls_.reconnect(database), command);
    if (command == "WAIT_CLOSE") return completed(controls_.wait_close(database), command);
    return completed(controls_.kill(database), command);
  }
  if (command == "DISABLE" || command == "ENABLE") {
    if (args != 1) return usage((command + " <db>").c_str());
    return completed(controls_.set_enabled(*database, command == "ENABLE"), command);
  }
  if (command == "KILL_CLIENT") {
    std::uint64_t id = 0;
    const std::string& text = args == 1 ? words[1] : std::string();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (args != 1 || ec != std::errc() || end != text.data() + text.size()) {
      return error(ss::kSyntaxError, "invalid client pointer supplied");  // PgBouncer's words
    }
    return completed(controls_.kill_client(id), command);
  }
  if (command == "RELOAD" && args == 0) return completed(controls_.reload(), command);
  if (command == "SUSPEND" && args == 0) return completed(controls_.suspend(), command);
  if (command == "SHUTDOWN") {
    std::string mode = args == 1 ? upper(words[1]) : std::string();
    if (args > 1 || (args == 1 && mode != "WAIT_FOR_SERVERS" && mode != "WAIT_FOR_CLIENTS" &&
                      mode != "DRAIN")) {
      return usage("SHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS|DRAIN]");
    }
    spdlog::info("SHUTDOWN {} command issued", mode);
    ShutdownMode how = mode.empty()                  ? ShutdownMode::kImmediate
                       : mode == "WAIT_FOR_SERVERS" ? ShutdownMode::kWaitForServers
                       : mode == "DRAIN"            ? ShutdownMode::kDrain
                                                    : ShutdownMode::kWaitForClients;
    return completed(controls_.shutdown(how), command);
  }
  if (command == "SET") {
    // From the first word on, found as words_of found it (a leading \v or \f included).
    auto first = std::find_if_not(statement.begin(), statement.end(), is_separator);
    auto setting = parse_set(statement.substr(first - statement.begin()));
    if (!setting) return usage("SET key = value");
    return completed(controls_.set(setting->first, setting->second), command);
  }
  return error(ss::kSyntaxError, "invalid command");
}

}  // namespace pooler::admin
