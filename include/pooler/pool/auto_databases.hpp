// AutoDatabases: the database names served through the "*" entry (PgBouncer's autodbs) and how
// long each has gone without clients, so the janitor can forget those idle longer than
// autodb_idle_timeout.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pooler/util/clock.hpp"

namespace pooler::pool {

class AutoDatabases {
 public:
  // A client asked for `name`, which only the "*" entry serves. True when it is new (first
  // use, or first since it was forgotten).
  bool add(const std::string& name);
  bool contains(const std::string& name) const { return idle_since_.count(name) > 0; }
  // `name` is configured now (a reload added its own entry): no longer an auto-database.
  void erase(const std::string& name) { idle_since_.erase(name); }
  bool empty() const { return idle_since_.empty(); }
  // In name order, for SHOW DATABASES.
  std::vector<std::string> names() const;

  // One janitor look at every name: `held(name)` says whether something keeps it (a client,
  // a server busy with work a client left, PAUSE). A name not held starts or keeps its idle
  // time; a held one loses it. Returns the names idle longer than `timeout`, now forgotten;
  // none when `timeout` is zero or less (as in PgBouncer, 0 keeps autodbs for good).
  std::vector<std::string> sweep(util::TimePoint now, util::Duration timeout,
                                 const std::function<bool(const std::string&)>& held);

 private:
  std::map<std::string, std::optional<util::TimePoint>> idle_since_;
};

}  // namespace pooler::pool
