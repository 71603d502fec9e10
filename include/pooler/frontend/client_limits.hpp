// ClientLimits: PgBouncer's max_db_client_connections and max_user_client_connections. Every
// client that has named a database and a user counts, from its startup packet until it closes,
// whether it is still logging in, on the admin console or found through auth_query, as
// PgBouncer counts them; an admin user on the console is never refused by either.
#pragma once

#include <string>
#include <unordered_map>

namespace pooler::frontend {

enum class ClientLimitExceeded { kNone, kDatabase, kUser };

class ClientLimits {
 public:
  // Counts one client in. `database_limit` and `user_limit` are the limits in force (0: none);
  // `exempt` spares it from both. The client stays counted, even when refused, until leave().
  ClientLimitExceeded join(const std::string& database, const std::string& user,
                           int database_limit, int user_limit, bool exempt);
  void leave(const std::string& database, const std::string& user);

  int database_clients(const std::string& database) const { return count(databases_, database); }
  int user_clients(const std::string& user) const { return count(users_, user); }
  // Every name with clients now, and how many.
  const std::unordered_map<std::string, int>& databases() const { return databases_; }
  const std::unordered_map<std::string, int>& users() const { return users_; }

 private:
  static int count(const std::unordered_map<std::string, int>& counts, const std::string& name);
  static void drop(std::unordered_map<std::string, int>& counts, const std::string& name);

  std::unordered_map<std::string, int> databases_;
  std::unordered_map<std::string, int> users_;
};

// PgBouncer's refusals, word for word.
const char* client_limit_message(ClientLimitExceeded exceeded);

}  // namespace pooler::frontend
