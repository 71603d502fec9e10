// PoolRegistry: every pool by (database, user), the budgets they share, and the janitor's walk
// over them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "pooler/config/config.hpp"
#include "pooler/pool/auto_databases.hpp"
#include "pooler/pool/pool.hpp"

namespace pooler::pool {

class PoolRegistry {
 public:
  PoolRegistry(net::Loop& loop, net::DnsCache& dns, const util::Clock& clock,
               net::Graveyard& graveyard);
  ~PoolRegistry();

  // The pool for a client of `database` logging in as `user` (the forced user of the entry if it
  // has one), created on first use from the config in force. `secret` is what the pooler knows
  // of the user's password for logging in to PostgreSQL.
  Pool& pool_for(const config::Config& config, const config::DatabaseEntry& database,
                 const std::string& user, const backend::ServerTarget& target);

  // PgBouncer's rule for pools without clients: each database with a forced user and a
  // min_pool_size has its pool from the start, which then keeps that many servers open (within
  // every connection limit). Called on every janitor tick, so a RELOAD that adds one is served.
  void open_min_pools(const config::Config& config);

  // The pool auth_query look-ups for `database` run on, logged in as `auth_user`: one of its
  // own, small and in transaction mode, apart from the pool of clients logging in as the auth
  // user (where PgBouncer shares it, so a busy auth user stalls every look-up).
  Pool& lookup_pool_for(const config::Config& config, const config::DatabaseEntry& database,
                        const std::string& auth_user);

  // How servers are encrypted from now on (server_tls_*): new pools and, at a reload, the
  // existing ones (whose servers then reconnect at release if it changed).
  void set_server_tls(backend::ServerTls tls) { server_tls_ = std::move(tls); }
  // A server outside every pool, for one client alone (a replication connection): encrypted as
  // pooled ones are, numbered in the same sequence. The caller connects and owns it.
  std::unique_ptr<backend::ServerConnection> unpooled_server(backend::ServerTarget target,
                                                             backend::ServerOwner& owner);

  // The admin controls, each for one database or (nullopt) all of them.
  void pause(const std::optional<std::string>& database);
  void resume(const std::optional<std::string>& database);
  bool paused(const std::string& database) const;
  bool any_paused() const { return paused_all_ || !paused_databases_.empty(); }
  bool paused_all() const { return paused_all_; }
  // Every paused pool of `database` (or all) has let go of all its servers.
  bool pause_complete(const std::optional<std::string>& database) const;
  void reconnect(const std::optional<std::string>& database);
  // DNS no longer lists `addresses` for `host`: servers connected there close at release.
  void retire_addresses(const std::string& host, const std::vector<std::string>& addresses);
  // No server marked by RECONNECT or a reload is still open.
  bool reconnect_complete(const std::optional<std::string>& database) const;
  // DISABLE/ENABLE: whether new clients may log in to the database.
  void set_disabled(const std::string& database, bool disabled);
  bool disabled(const std::string& database) const { return disabled_.count(database) > 0; }
  // A reload: each pool whose database and user are still configured takes the new settings;
  // the budgets take the new limits. Returns the databases no longer configured.
  std::set<std::string> apply(const config::Config& config);
  // The databases served through the "*" entry now, in name order (SHOW DATABASES lists them,
  // as PgBouncer lists its autodbs).
  std::vector<std::string> auto_databases() const { return auto_databases_.names(); }

  // The janitor: each pool's timeouts, then every auto-database without clients for longer than
  // autodb_idle_timeout is forgotten, its pools and servers closed.
  void tick();
  metrics::Events& events() { return context_.events; }
  // The loop's name cache, which cancels to peers share with server connections.
  net::DnsCache& dns() { return context_.dns; }
  const metrics::Events& events() const { return context_.events; }
  // Ends a stats_period of `seconds` in every pool; with `log`, one line per database, as
  // PgBouncer's log_stats.
  void roll_stats(double seconds, bool log);
  // Closes every server and forgets every pool (shutdown).
  void close_all() { pools_.clear(); }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, pool] : pools_) f(*pool);
  }
  template <typename F>
  void for_each_mutable(F&& f) {
    for (auto& [key, pool] : pools_) f(*pool);
  }

  static PoolSettings settings_for(const config::Config& config,
                                   const config::DatabaseEntry& database,
                                   const std::string& user);

 private:
  void on_capacity_freed(const PoolKey& key);
  bool evict_idle_elsewhere(const PoolKey& key);
  void forget_idle_auto_databases();
  // Destroys every pool of `database` (each can_forget) and its budget.
  void forget_database(const std::string& database);

  // The pools of `database`, or every pool.
  template <typename F>
  void for_each_of(const std::optional<std::string>& database, F&& f) const {
    for (const auto& [key, pool] : pools_) {
      if (!database || pool->key().database == *database) f(*pool);
    }
  }
  Pool& create_pool(const config::Config& config, const config::DatabaseEntry& database,
                    const std::string& user, const backend::ServerTarget& target,
                    PoolSettings settings, bool lookup_only);
  static PoolSettings lookup_settings(const config::Config& config,
                                      const config::DatabaseEntry& database,
                                      const std::string& auth_user);
  static int db_limit(const config::Config& config, const config::DatabaseEntry& database);
  static int user_limit(const config::Config& config, const std::string& user);

  PoolContext context_;
  // By (database, user, serves look-ups only): a look-up pool never merges with the client pool
  // of the same user, so look-ups never wait behind the auth user's own clients.
  using Slot = std::tuple<std::string, std::string, bool>;
  std::map<Slot, std::unique_ptr<Pool>> pools_;
  backend::ServerTls server_tls_;
  std::map<std::string, ConnectionBudget> database_budgets_;
  std::map<std::string, ConnectionBudget> user_budgets_;
  bool paused_all_ = false;
  std::set<std::string> paused_databases_;
  std::set<std::string> disabled_;
  AutoDatabases auto_databases_;
  util::Duration autodb_idle_timeout_{};  // from the config of the last pool_for or apply
};

}  // namespace pooler::pool
