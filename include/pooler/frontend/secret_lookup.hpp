// SecretLookup: one auth_query run for one login, on a server of the look-up pool for
// (database, auth user), never on the client's own pool; and where a client's database says to
// look users up.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "pooler/backend/auth_query.hpp"
#include "pooler/backend/server_connection.hpp"
#include "pooler/config/config.hpp"
#include "pooler/pool/pool.hpp"

namespace pooler::frontend {

// Where and how users missing from auth_file are looked up for clients of one database.
struct LookupPlan {
  config::DatabaseEntry database;  // where the query runs: auth_dbname's entry, else the client's
  std::string auth_user;
  std::string query;
};

// The plan for a client of `database`: its entry's auth_user, auth_query and auth_dbname, else
// the global ones; nullopt when no auth_user applies (or the database is unknown).
std::optional<LookupPlan> lookup_plan(const config::Config& config, const std::string& database);

class SecretLookup final : public pool::Waiter, public backend::ServerPeer {
 public:
  // Called once with the answer (kError when the look-up itself failed); the callee may
  // destroy the SecretLookup.
  using Done = std::function<void(const backend::AuthQueryAnswer&)>;

  SecretLookup(pool::Pool& pool, const std::string& query, const std::string& user, Done done);
  // Leaves the wait queue; a server still answering is closed (its state is unknown).
  ~SecretLookup() override;
  SecretLookup(const SecretLookup&) = delete;
  SecretLookup& operator=(const SecretLookup&) = delete;

  // Asks the pool for a server; the answer never comes from inside this call. Returns why the
  // look-up cannot start (every server login is failing, as server_login_retry tells), or
  // nullopt once it is under way.
  std::optional<std::string> start();

  // pool::Waiter
  void on_server_granted(pool::ServerLease lease) override;
  void on_wait_failed(const std::string& sqlstate, const std::string& message) override;
  // backend::ServerPeer
  void on_server_bytes(util::Bytes data, char settled) override;
  void on_server_parameter(std::string_view, std::string_view) override {}
  void on_server_lost(const std::string& reason) override;
  void on_server_drained() override {}
  void on_query_timeout() override;
  void on_server_fast_close(const char*) override {}

 private:
  void finish(backend::AuthQueryAnswer answer);
  static backend::AuthQueryAnswer failure(std::string why);

  pool::Pool& pool_;
  std::string request_;
  pool::ServerLease lease_;
  backend::AuthQueryReply reply_;
  Done done_;
  bool waiting_ = false;
};

}  // namespace pooler::frontend
