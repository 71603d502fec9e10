// ClientConnection's parameters: what its startup packet asks for (reported parameters, kept in
// step on every server it is given, and session settings such as search_path or
// `options=-c statement_timeout=5s`), the SQL that brings a server to them, and the view of the
// server's values the client is greeted with.
#include <strings.h>

#include <cctype>

#include "pooler/backend/session_settings.hpp"
#include "pooler/frontend/client_connection.hpp"
#include "pooler/protocol/sqlstate.hpp"
#include "pooler/protocol/startup_options.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;

namespace {

bool is_connection_parameter(std::string_view name) {
  return name == "user" || name == "database";
}

bool listed(const std::vector<std::string>& list, std::string_view name) {
  for (const auto& item : list) {
    if (item.size() == name.size() && strncasecmp(item.data(), name.data(), name.size()) == 0) {
      return true;
    }
  }
  return false;
}

// PostgreSQL's encoding names ignore case and punctuation: "utf-8" is UTF8.
std::string encoding_key(std::string_view name) {
  std::string key;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return key;
}

}  // namespace

bool ClientConnection::take_replication_request(const protocol::StartupMessage& message) {
  const std::string* value = message.find("replication");
  if (value == nullptr) return true;
  std::optional<ReplicationMode> mode = parse_replication_mode(*value);
  if (!mode) {
    // PostgreSQL's words for it.
    refuse(metrics::Refusal::kProtocolError, ss::kInvalidParameterValue,
           "invalid value for parameter \"replication\": \"" + *value + "\"");
    return false;
  }
  replication_ = *mode;
  if (replication_ == ReplicationMode::kNone) return true;
  // Its server gets the startup packet as the client sent it, less what the site drops.
  const auto& ignored = config_->settings.ignore_startup_parameters;
  for (const auto& [name, parameter] : message.parameters) {
    if (!is_connection_parameter(name) && !listed(ignored, name)) {
      login_->replication_parameters.emplace_back(name, parameter);
    }
  }
  return true;
}

bool ClientConnection::take_startup_parameters(const protocol::StartupMessage& message) {
  if (!take_replication_request(message)) return false;
  const auto& ignored = config_->settings.ignore_startup_parameters;
  auto& tracked = context_.tracked_parameters;
  if (tracked.empty()) {
    tracked = backend::tracked_parameters(config_->settings.track_extra_parameters);
  }
  auto take = [&](const std::string& name, const std::string& value) {
    if (listed(ignored, name)) return;
    std::string canonical = backend::canonical_parameter(name, tracked);
    if (!canonical.empty()) {
      parameters_.set(canonical, value);
    } else {
      session_settings_.set(name, value);
    }
  };
  for (const auto& [name, value] : message.parameters) {
    if (is_connection_parameter(name) || name == "replication" || listed(ignored, name)) continue;
    if (name != "options") {
      take(name, value);
      continue;
    }
    protocol::StartupOptions options = protocol::parse_startup_options(value);
    if (!options.error.empty()) {
      refuse(metrics::Refusal::kProtocolError, ss::kSyntaxError, options.error);
      return false;
    }
    for (const auto& [setting, setting_value] : options.settings) take(setting, setting_value);
  }
  return true;
}

bool ClientConnection::greets_without_server(const backend::ParameterSet& welcome) {
  // A server has to check the values first (PostgreSQL refuses a bad one at login) and show
  // how it spells them.
  if (!session_settings_.empty()) return false;
  std::optional<std::string_view> respelled_encoding;  // set after the walk: set() moves entries
  for (const auto& [name, value] : parameters_) {
    if (name == "application_name") continue;  // free text, shown as given
    auto shown = welcome.get(name);
    if (!shown) return false;
    if (*shown == value) continue;
    if (name != "client_encoding" || encoding_key(*shown) != encoding_key(value)) return false;
    respelled_encoding = shown;
  }
  if (respelled_encoding) parameters_.set("client_encoding", *respelled_encoding);
  return true;
}

std::string ClientConnection::server_sync_sql(const backend::ServerConnection& server) const {
  return backend::sync_statements(parameters_, server.parameters(), context_.tracked_parameters,
                                  &server.parameter_sync_memo()) +
         backend::session_settings_statements(session_settings_, server.applied_settings());
}

}  // namespace pooler::frontend
