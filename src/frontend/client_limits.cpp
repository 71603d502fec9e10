// Client counts per database and per user, against their limits.
#include "pooler/frontend/client_limits.hpp"

namespace pooler::frontend {

ClientLimitExceeded ClientLimits::join(const std::string& database, const std::string& user,
                                       int database_limit, int user_limit, bool exempt) {
  int in_database = ++databases_[database];
  int of_user = ++users_[user];
  if (exempt) return ClientLimitExceeded::kNone;
  // The client counts itself: the limit is how many may be connected, it included.
  if (database_limit > 0 && in_database > database_limit) return ClientLimitExceeded::kDatabase;
  if (user_limit > 0 && of_user > user_limit) return ClientLimitExceeded::kUser;
  return ClientLimitExceeded::kNone;
}

void ClientLimits::leave(const std::string& database, const std::string& user) {
  drop(databases_, database);
  drop(users_, user);
}

int ClientLimits::count(const std::unordered_map<std::string, int>& counts,
                        const std::string& name) {
  auto it = counts.find(name);
  return it == counts.end() ? 0 : it->second;
}

void ClientLimits::drop(std::unordered_map<std::string, int>& counts, const std::string& name) {
  auto it = counts.find(name);
  if (it == counts.end()) return;
  if (--it->second <= 0) counts.erase(it);  // names come and go: keep only the live ones
}

const char* client_limit_message(ClientLimitExceeded exceeded) {
  switch (exceeded) {
    case ClientLimitExceeded::kDatabase:
      return "client connections exceeded (max_db_client_connections)";
    case ClientLimitExceeded::kUser:
      return "client connections exceeded (max_user_client_connections)";
    case ClientLimitExceeded::kNone:
      break;
  }
  return "";
}

}  // namespace pooler::frontend
