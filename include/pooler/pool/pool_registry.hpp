// PoolRegistry: every pool by (database, user), the budgets they share, and the janitor's walk
// over them.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "pooler/config/config.hpp"
#include "pooler/pool/pool.hpp"

namespace pooler::pool {

class PoolRegistry {
 public:
  PoolRegistry(net::Loop& loop, const util::Clock& clock, net::Graveyard& graveyard);
  ~PoolRegistry();

  // The pool for a client of `database` logging in as `user` (the forced user of the entry if it
  // has one), created on first use from the config in force. `secret` is what the pooler knows
  // of the user's password for logging in to PostgreSQL.
  Pool& pool_for(const config::Config& config, const config::DatabaseEntry& database,
                 const std::string& user, const backend::ServerTarget& target);

  void tick();
  // Ends a stats_period of `seconds` in every pool; with `log`, one line per database, as
  // PgBouncer's log_stats.
  void roll_stats(double seconds, bool log);
  // Closes every server and forgets every pool (shutdown).
  void close_all() { pools_.clear(); }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, pool] : pools_) f(*pool);
  }

  static PoolSettings settings_for(const config::Config& config,
                                   const config::DatabaseEntry& database,
                                   const std::string& user);

 private:
  void on_capacity_freed(const PoolKey& key);
  bool evict_idle_elsewhere(const PoolKey& key);

  PoolContext context_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Pool>> pools_;
  std::map<std::string, ConnectionBudget> database_budgets_;
  std::map<std::string, ConnectionBudget> user_budgets_;
};

}  // namespace pooler::pool
