// The SQL that moves a server's session settings from one client's to another's.
#include "pooler/backend/session_settings.hpp"

#include "pooler/protocol/message_builder.hpp"

namespace pooler::backend {

namespace {

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string session_settings_statements(const ParameterSet& wanted, const ParameterSet& applied) {
  std::string resets;
  for (const auto& [name, value] : applied) {
    if (!wanted.get(name)) resets += "RESET " + quote_identifier(name) + ";";
  }
  std::string sets;
  for (const auto& [name, value] : wanted) {
    auto have = applied.get(name);
    if (have && *have == value) continue;
    sets += sets.empty() ? "SELECT " : ", ";
    sets += "pg_catalog.set_config(" + protocol::quote_literal(name) + ", " +
            protocol::quote_literal(value) + ", false)";
  }
  return sets.empty() ? resets : resets + sets + ";";
}

}  // namespace pooler::backend
