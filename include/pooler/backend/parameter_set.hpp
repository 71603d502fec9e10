// ParameterSet: the session parameters the pooler keeps in step between a client and whichever
// server it is given (client_encoding, DateStyle, TimeZone, ...), keyed case-insensitively.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pooler::backend {

class ParameterSet {
 public:
  // Sets a value; returns true if it changed.
  bool set(std::string_view name, std::string_view value);
  const std::string* get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;  // few entries: a vector is fastest
};

// The parameters PgBouncer tracks by default, plus the configured extras; names in the case
// PostgreSQL reports them.
std::vector<std::string> tracked_parameters(const std::vector<std::string>& extra);

// The canonical spelling of a tracked parameter (e.g. "datestyle" -> "DateStyle"), or empty if
// `name` is not tracked.
std::string canonical_parameter(std::string_view name, const std::vector<std::string>& tracked);

// SET statements that bring `server` to `wanted` for the tracked names; empty when in step.
std::string sync_statements(const ParameterSet& wanted, const ParameterSet& server,
                            const std::vector<std::string>& tracked);

}  // namespace pooler::backend
