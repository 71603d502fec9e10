// Console command dispatch: normalise the statement, find its row, check access, run it.
#include "pooler/admin/console.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "pooler/admin/views.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::admin {

namespace {

using frontend::ConsoleRole;
using View = ResultTable (*)(const Snapshot&);

struct ShowCommand {
  std::string_view name;
  View view;
};

constexpr ShowCommand kShowCommands[] = {
    {"POOLS", show_pools},       {"CLIENTS", show_clients}, {"SERVERS", show_servers},
    {"DATABASES", show_databases}, {"USERS", show_users},   {"CONFIG", show_config},
    {"STATE", show_state},       {"LISTS", show_lists},     {"VERSION", show_version},
    {"STATS", show_stats},       {"STATS_TOTALS", show_stats_totals},
    {"STATS_AVERAGES", show_stats_averages}, {"TOTALS", show_totals},
};

// Commands PgBouncer has that this console does not implement yet: refused by name, clearly.
constexpr std::string_view kNotYet[] = {
    "SHOW MEM",
    "SHOW FDS", "SHOW SOCKETS", "SHOW ACTIVE_SOCKETS", "SHOW DNS_HOSTS", "SHOW DNS_ZONES",
    "SHOW PEERS", "SHOW PEER_POOLS", "PAUSE", "RESUME", "SUSPEND", "DISABLE", "ENABLE", "KILL",
    "KILL_CLIENT", "RECONNECT", "WAIT_CLOSE", "SET"};

constexpr std::string_view kHelp =
    "Console usage\n"
    "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
    "\tSHOW LISTS|STATE\n"
    "\tRELOAD\n"
    "\tSHUTDOWN";

// Upper-cased words of the statement, without a trailing ';'.
std::vector<std::string> words_of(std::string_view statement) {
  std::vector<std::string> words;
  std::string word;
  for (char c : statement) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ';') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::string error(const char* sqlstate, const std::string& message) {
  std::string out;
  protocol::append_error(out, protocol::ErrorSeverity::kError, sqlstate, message);
  return out;
}

}  // namespace

Console::Console(ConsoleHooks hooks, std::string version)
    : hooks_(std::move(hooks)), version_(std::move(version)) {}

std::string Console::server_version() const { return version_ + "/pooler"; }

std::string Console::execute(std::string_view statement, ConsoleRole role) {
  auto words = words_of(statement);
  if (words.empty()) {
    std::string out;
    out.push_back('I');  // EmptyQueryResponse
    out.append({0, 0, 0, 4});
    return out;
  }
  std::string out;
  if (words[0] == "SHOW" && words.size() == 2) {
    if (words[1] == "HELP") {
      protocol::append_notice(out, kHelp);
      append_command_complete(out, "SHOW");
      return out;
    }
    for (const auto& command : kShowCommands) {
      if (words[1] == command.name) {
        append_table(out, command.view(hooks_.snapshot()), "SHOW");
        return out;
      }
    }
  }
  std::string joined = words.size() >= 2 && words[0] == "SHOW" ? words[0] + " " + words[1]
                                                               : words[0];
  bool is_show = words[0] == "SHOW";
  if (!is_show && role != ConsoleRole::kAdmin) {
    return error(protocol::sqlstate::kInsufficientPrivilege, "admin access needed");
  }
  if (words.size() == 1 && words[0] == "RELOAD") {
    hooks_.reload();
    append_command_complete(out, "RELOAD");
    return out;
  }
  if (words.size() == 1 && words[0] == "SHUTDOWN") {
    spdlog::info("SHUTDOWN requested on the admin console");
    hooks_.shutdown();
    append_command_complete(out, "SHUTDOWN");
    return out;
  }
  if (std::find(std::begin(kNotYet), std::end(kNotYet), joined) != std::end(kNotYet)) {
    return error(protocol::sqlstate::kFeatureNotSupported,
                 joined + " is not supported by this version of pooler yet");
  }
  return error(protocol::sqlstate::kSyntaxError, "invalid command");
}

}  // namespace pooler::admin
