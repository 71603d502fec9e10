// Parameter tracking and the SET statements that re-sync a server for a client.
#include "pooler/backend/parameter_set.hpp"

#include <strings.h>

#include "pooler/protocol/message_builder.hpp"

namespace pooler::backend {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool ParameterSet::set(std::string_view name, std::string_view value) {
  for (auto& [key, current] : entries_) {
    if (iequals(key, name)) {
      if (current == value) return false;
      current.assign(value);
      return true;
    }
  }
  entries_.emplace_back(std::string(name), std::string(value));
  return true;
}

const std::string* ParameterSet::get(std::string_view name) const {
  for (const auto& [key, value] : entries_) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

std::vector<std::string> tracked_parameters(const std::vector<std::string>& extra) {
  // Every parameter PostgreSQL reports that a client can change (PgBouncer 1.20+ tracks all
  // reported ones); the rest it reports (server_version, is_superuser...) a SET cannot move.
  std::vector<std::string> names = {"client_encoding",  "DateStyle",
                                    "TimeZone",         "standard_conforming_strings",
                                    "application_name", "IntervalStyle",
                                    "default_transaction_read_only"};
  for (const auto& name : extra) {
    if (canonical_parameter(name, names).empty()) names.push_back(name);
  }
  return names;
}

std::string canonical_parameter(std::string_view name, const std::vector<std::string>& tracked) {
  for (const auto& t : tracked) {
    if (iequals(t, name)) return t;
  }
  return {};
}

std::string sync_statements(const ParameterSet& wanted, const ParameterSet& server,
                            const std::vector<std::string>& tracked) {
  std::string sql;
  for (const auto& name : tracked) {
    const std::string* want = wanted.get(name);
    if (want == nullptr) continue;
    const std::string* have = server.get(name);
    if (have != nullptr && *have == *want) continue;
    sql += "SET " + name + " = " + protocol::quote_literal(*want) + ";";
  }
  return sql;
}

}  // namespace pooler::backend
