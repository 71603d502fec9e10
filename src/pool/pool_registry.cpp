// Pool lookup and creation, shared budgets, and capacity hand-over between pools.
#include "pooler/pool/pool_registry.hpp"

#include <spdlog/spdlog.h>

#include "pooler/pool/pool_removal.hpp"
#include "pooler/pool/server_target.hpp"

namespace pooler::pool {

PoolRegistry::PoolRegistry(net::Loop& loop, net::DnsCache& dns, const util::Clock& clock,
                           net::Graveyard& graveyard)
    : context_{loop, dns, clock, graveyard, 1, nullptr, nullptr, {}} {
  context_.on_capacity_freed = [this](const PoolKey& key) { on_capacity_freed(key); };
  context_.evict_idle_elsewhere = [this](const PoolKey& key) { return evict_idle_elsewhere(key); };
}

PoolRegistry::~PoolRegistry() {
  context_.on_capacity_freed = nullptr;
  context_.evict_idle_elsewhere = nullptr;
  pools_.clear();
}

PoolSettings PoolRegistry::settings_for(const config::Config& config,
                                        const config::DatabaseEntry& database,
                                        const std::string& user) {
  const auto& s = config.settings;
  const config::UserEntry* user_entry = config.find_user(user);
  PoolSettings p;
  // Precedence as PgBouncer: the user's pool_mode, then the database's, then the global one.
  p.mode = s.pool_mode;
  if (database.pool_mode) p.mode = *database.pool_mode;
  if (user_entry != nullptr && user_entry->pool_mode) p.mode = *user_entry->pool_mode;
  p.pool_size = s.default_pool_size;
  if (database.pool_size) p.pool_size = *database.pool_size;
  if (user_entry != nullptr && user_entry->pool_size) p.pool_size = *user_entry->pool_size;
  p.reset_query = s.server_reset_query;
  p.reset_query_always = s.server_reset_query_always;
  // A session keeps its server: its statements need no tracking.
  if (p.mode != config::PoolMode::kSession) {
    p.max_prepared_statements = static_cast<std::size_t>(s.max_prepared_statements);
  }
  double wait = s.query_wait_timeout;
  if (database.query_wait_timeout && *database.query_wait_timeout >= 0) {
    wait = *database.query_wait_timeout;
  }
  if (user_entry != nullptr && user_entry->query_wait_timeout) wait = *user_entry->query_wait_timeout;
  p.query_wait_timeout = util::seconds_to_duration(wait);
  p.server_connect_timeout = util::seconds_to_duration(s.server_connect_timeout);
  p.server_lifetime = util::seconds_to_duration(
      database.server_lifetime ? *database.server_lifetime : s.server_lifetime);
  p.server_idle_timeout = util::seconds_to_duration(s.server_idle_timeout);
  double query_timeout = s.query_timeout;
  if (user_entry != nullptr && user_entry->query_timeout) query_timeout = *user_entry->query_timeout;
  p.query_timeout = util::seconds_to_duration(query_timeout);
  p.server_login_retry = util::seconds_to_duration(s.server_login_retry);
  p.server_check_delay = util::seconds_to_duration(s.server_check_delay);
  p.server_check_query = s.server_check_query;
  p.cancel_wait_timeout = util::seconds_to_duration(s.cancel_wait_timeout);
  p.min_pool_size = database.min_pool_size ? *database.min_pool_size : s.min_pool_size;
  p.reserve_pool_size = s.reserve_pool_size;
  if (database.reserve_pool_size) p.reserve_pool_size = *database.reserve_pool_size;
  if (user_entry != nullptr && user_entry->reserve_pool_size) {
    p.reserve_pool_size = *user_entry->reserve_pool_size;
  }
  p.reserve_pool_timeout = util::seconds_to_duration(s.reserve_pool_timeout);
  p.server_fast_close = s.server_fast_close;
  p.log_connections = s.log_connections;
  p.log_disconnections = s.log_disconnections;
  p.load_balance_hosts = database.load_balance_hosts == "disable" ? HostRotation::Mode::kDisable
                                                                  : HostRotation::Mode::kRoundRobin;
  p.server_round_robin = s.server_round_robin;
  return p;
}

Pool& PoolRegistry::pool_for(const config::Config& config, const config::DatabaseEntry& database,
                             const std::string& user, const backend::ServerTarget& target) {
  auto it = pools_.find(Slot{database.name, user, false});
  if (it != pools_.end()) return *it->second;
  return create_pool(config, database, user, target, settings_for(config, database, user), false);
}

void PoolRegistry::open_min_pools(const config::Config& config) {
  for (const auto& [name, database] : config.databases) {
    if (name == "*" || database.user.empty() || disabled(name)) continue;
    int min_pool_size = database.min_pool_size.value_or(config.settings.min_pool_size);
    if (min_pool_size <= 0 || pools_.count(Slot{name, database.user, false}) != 0) continue;
    spdlog::debug("opening the pool {}/{} for its min_pool_size", name, database.user);
    pool_for(config, database, database.user, server_target(config, database, database.user));
  }
}

Pool& PoolRegistry::lookup_pool_for(const config::Config& config,
                                    const config::DatabaseEntry& database,
                                    const std::string& auth_user) {
  auto it = pools_.find(Slot{database.name, auth_user, true});
  if (it != pools_.end()) return *it->second;
  return create_pool(config, database, auth_user, server_target(config, database, auth_user),
                     lookup_settings(config, database, auth_user), true);
}

PoolSettings PoolRegistry::lookup_settings(const config::Config& config,
                                           const config::DatabaseEntry& database,
                                           const std::string& auth_user) {
  // A look-up is one short query: two servers serve a burst of logins, and transaction mode
  // gives each server back at ReadyForQuery without a reset query.
  constexpr int kLookupPoolSize = 2;
  PoolSettings p = settings_for(config, database, auth_user);
  p.mode = config::PoolMode::kTransaction;
  p.pool_size = kLookupPoolSize;
  p.min_pool_size = 0;
  p.reserve_pool_size = 0;
  p.query_timeout = p.query_wait_timeout;
  p.max_prepared_statements = 0;  // its one unnamed statement needs no tracking
  return p;
}

Pool& PoolRegistry::create_pool(const config::Config& config,
                                const config::DatabaseEntry& database, const std::string& user,
                                const backend::ServerTarget& target, PoolSettings settings,
                                bool lookup_only) {
  autodb_idle_timeout_ = util::seconds_to_duration(config.settings.autodb_idle_timeout);
  if (config.databases.count(database.name) == 0 && auto_databases_.add(database.name)) {
    spdlog::info("registered new auto-database: db={}", database.name);
  }
  auto& db_budget = database_budgets_[database.name];
  db_budget.set_limit(db_limit(config, database));
  auto& user_budget = user_budgets_[target.user];
  user_budget.set_limit(user_limit(config, target.user));
  backend::ServerTarget encrypted = target;
  encrypted.tls = server_tls_;
  auto pool = std::make_unique<Pool>(context_, PoolKey{database.name, user}, std::move(settings),
                                     encrypted, db_budget, user_budget);
  Pool& ref = *pool;
  ref.set_paused(paused(database.name));
  ref.set_lookup_only(lookup_only);
  pools_.emplace(Slot{database.name, user, lookup_only}, std::move(pool));
  return ref;
}

std::unique_ptr<backend::ServerConnection> PoolRegistry::unpooled_server(
    backend::ServerTarget target, backend::ServerOwner& owner) {
  target.tls = server_tls_;
  return std::make_unique<backend::ServerConnection>(context_.loop, context_.dns, context_.clock,
                                                     std::move(target), owner,
                                                     context_.next_server_id++);
}

int PoolRegistry::db_limit(const config::Config& config, const config::DatabaseEntry& database) {
  return database.max_db_connections ? *database.max_db_connections
                                     : config.settings.max_db_connections;
}

int PoolRegistry::user_limit(const config::Config& config, const std::string& user) {
  const config::UserEntry* entry = config.find_user(user);
  return entry != nullptr && entry->max_user_connections ? *entry->max_user_connections
                                                         : config.settings.max_user_connections;
}

void PoolRegistry::pause(const std::optional<std::string>& database) {
  if (database) {
    paused_databases_.insert(*database);
  } else {
    paused_all_ = true;
  }
  for_each_of(database, [](Pool& pool) { pool.set_paused(true); });
}

void PoolRegistry::resume(const std::optional<std::string>& database) {
  if (database) {
    paused_databases_.erase(*database);
  } else {
    paused_all_ = false;
    paused_databases_.clear();
  }
  for (auto& [slot, pool] : pools_) pool->set_paused(paused(pool->key().database));
}

bool PoolRegistry::paused(const std::string& database) const {
  return paused_all_ || paused_databases_.count(database) > 0;
}

bool PoolRegistry::pause_complete(const std::optional<std::string>& database) const {
  bool complete = true;
  for_each_of(database, [&](const Pool& pool) {
    complete = complete && pool.counts().total() == 0;
  });
  return complete;
}

void PoolRegistry::reconnect(const std::optional<std::string>& database) {
  for_each_of(database, [](Pool& pool) { pool.reconnect(); });
}

void PoolRegistry::retire_addresses(const std::string& host,
                                    const std::vector<std::string>& addresses) {
  int marked = 0;
  for (auto& [key, pool] : pools_) marked += pool->retire_addresses(host, addresses);
  spdlog::info("DNS: {} no longer resolves to {}; {} server(s) to reconnect", host,
               fmt::join(addresses, ","), marked);
}

bool PoolRegistry::reconnect_complete(const std::optional<std::string>& database) const {
  int marked = 0;
  for_each_of(database, [&](const Pool& pool) { marked += pool.close_needed_count(); });
  return marked == 0;
}

void PoolRegistry::set_disabled(const std::string& database, bool disabled) {
  if (disabled) {
    disabled_.insert(database);
  } else {
    disabled_.erase(database);
  }
}

std::set<std::string> PoolRegistry::apply(const config::Config& config) {
  std::set<std::string> removed;
  autodb_idle_timeout_ = util::seconds_to_duration(config.settings.autodb_idle_timeout);
  for (const auto& [name, entry] : config.databases) auto_databases_.erase(name);
  for (auto& [name, budget] : database_budgets_) {
    if (auto database = config.find_database(name)) budget.set_limit(db_limit(config, *database));
  }
  for (auto& [name, budget] : user_budgets_) budget.set_limit(user_limit(config, name));
  for (auto& [slot, pool] : pools_) {
    const PoolKey& key = pool->key();
    auto database = config.find_database(key.database);
    // A database whose forced user changed has new pools; this one's clients must move on.
    bool same_user = database && (database->user.empty() || database->user == key.user ||
                                  pool->lookup_only());
    if (!same_user) {
      removed.insert(key.database);
      pool->reconnect();
      continue;
    }
    backend::ServerTarget target = server_target(config, *database, key.user);
    target.tls = server_tls_;
    pool->reconfigure(pool->lookup_only() ? lookup_settings(config, *database, key.user)
                                          : settings_for(config, *database, key.user),
                      target);
  }
  return removed;
}

void PoolRegistry::tick() {
  for (auto& [key, pool] : pools_) pool->tick();
  forget_idle_auto_databases();
}

void PoolRegistry::forget_idle_auto_databases() {
  if (auto_databases_.empty()) return;
  // One pass over the pools: the auto-databases that something still holds.
  std::set<std::string> held;
  for (const auto& [slot, pool] : pools_) {
    const std::string& name = pool->key().database;
    if (auto_databases_.contains(name) && !can_forget(*pool)) held.insert(name);
  }
  // As in PgBouncer, a paused auto-database stays.
  auto holds = [&](const std::string& name) { return held.count(name) > 0 || paused(name); };
  for (const std::string& name :
       auto_databases_.sweep(context_.clock.now(), autodb_idle_timeout_, holds)) {
    forget_database(name);
  }
}

void PoolRegistry::forget_database(const std::string& database) {
  int servers = 0;
  std::vector<PoolKey> freed;
  auto it = pools_.lower_bound(Slot{database, std::string(), false});
  while (it != pools_.end() && std::get<0>(it->first) == database) {
    int open = it->second->counts().total();
    servers += open;
    if (open > 0) freed.push_back(it->second->key());
    it = pools_.erase(it);  // ~Pool closes what is left, through the graveyard
  }
  database_budgets_.erase(database);
  spdlog::info(
      "auto-database {} removed after autodb_idle_timeout ({}s) without clients; "
      "{} server connection(s) closed",
      database, util::duration_to_seconds(autodb_idle_timeout_), servers);
  // Their user budgets have room again.
  for (const PoolKey& key : freed) on_capacity_freed(key);
}

void PoolRegistry::roll_stats(double seconds, bool log) {
  std::map<std::string, metrics::StatsAverages> by_database;
  for (auto& [slot, pool] : pools_) {
    pool->roll_stats(seconds);
    by_database[pool->key().database] += pool->averages();
  }
  if (!log) return;
  for (const auto& [database, avg] : by_database) {
    spdlog::info(
        "stats: database={} {} xacts/s, {} queries/s, {} client parses/s, {} server parses/s, "
        "{} binds/s, in {} B/s, out {} B/s, xact {} us, query {} us, wait {} us",
        database, avg.xact_count, avg.query_count, avg.client_parse_count,
        avg.server_parse_count, avg.bind_count, avg.bytes_received, avg.bytes_sent,
        avg.xact_time_us, avg.query_time_us, avg.wait_time_us);
  }
}

bool PoolRegistry::evict_idle_elsewhere(const PoolKey& needy) {
  for (auto& [key, pool] : pools_) {
    if (pool->key() == needy) continue;
    bool shares_budget = pool->key().database == needy.database || pool->key().user == needy.user;
    if (shares_budget && pool->close_one_idle()) return true;
  }
  return false;
}

void PoolRegistry::on_capacity_freed(const PoolKey& freed) {
  // Only pools sharing a budget with the freed server can gain from it.
  for (auto& [key, pool] : pools_) {
    if (pool->key() == freed) continue;
    if (pool->key().database == freed.database || pool->key().user == freed.user) {
      pool->serve_waiters();
    }
  }
}

}  // namespace pooler::pool
