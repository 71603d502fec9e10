// Pool: the servers of one (database, user), one list per state, and the clients waiting for
// them. Grants idle servers, opens new ones within the limits, resets and reuses released ones,
// and enforces query_wait_timeout and the server timeouts on each janitor tick.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pooler/backend/server_connection.hpp"
#include "pooler/metrics/events.hpp"
#include "pooler/config/config.hpp"
#include "pooler/metrics/pool_stats.hpp"
#include "pooler/net/graveyard.hpp"
#include "pooler/pool/connection_budget.hpp"
#include "pooler/pool/host_rotation.hpp"
#include "pooler/pool/server_lease.hpp"
#include "pooler/pool/sizing.hpp"
#include "pooler/pool/wait_queue.hpp"

namespace pooler::pool {

struct PoolKey {
  std::string database;
  std::string user;
  bool operator==(const PoolKey&) const = default;
};

struct PoolSettings {
  config::PoolMode mode = config::PoolMode::kSession;
  int pool_size = 20;
  std::string reset_query = "DISCARD ALL";
  bool reset_query_always = false;
  // Prepared statements each server keeps under the pooler's names; 0: not tracked.
  std::size_t max_prepared_statements = 0;
  util::Duration query_wait_timeout{};      // zero: wait forever
  util::Duration server_connect_timeout{};  // zero: no limit
  util::Duration server_lifetime{};         // zero: no limit
  util::Duration server_idle_timeout{};     // zero: no limit
  util::Duration query_timeout{};           // zero: no limit
  util::Duration server_login_retry{};      // pause after a failed server login
  util::Duration server_check_delay{};      // idle longer than this: check before use
  std::string server_check_query;           // empty: the empty query
  util::Duration cancel_wait_timeout{};     // a cancelled server must be idle again by then
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  util::Duration reserve_pool_timeout{};
  bool server_fast_close = false;  // a server marked for closing goes at its next boundary
  bool log_connections = true;     // a line per new server connection
  bool log_disconnections = true;  // a line per server close, with the reason
  // load_balance_hosts: how new servers go over the entry's host list.
  HostRotation::Mode load_balance_hosts = HostRotation::Mode::kRoundRobin;
  // server_round_robin: idle servers are reused oldest first (FIFO), not warmest first (LIFO).
  bool server_round_robin = false;
};

// Loop-wide services every pool uses.
struct PoolContext {
  net::Loop& loop;
  net::DnsCache& dns;
  const util::Clock& clock;
  net::Graveyard& graveyard;
  std::uint64_t next_server_id = 1;
  // Called when a server closes, so pools sharing its budgets can use the freed room.
  std::function<void(const PoolKey&)> on_capacity_freed;
  // Called when waiters need a server but a shared budget is spent: close an idle server of
  // another pool sharing that budget, as PgBouncer evicts. Returns whether one was closed.
  std::function<bool(const PoolKey&)> evict_idle_elsewhere;
  // Process-wide counters by reason, which the pools and their clients bump.
  metrics::Events events;
};

class Pool final : public backend::ServerOwner {
 public:
  Pool(PoolContext& context, PoolKey key, PoolSettings settings, backend::ServerTarget target,
       ConnectionBudget& database_budget, ConnectionBudget& user_budget);
  ~Pool() override;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An idle server at once, or an empty lease after queueing the waiter (which then hears
  // on_server_granted or on_wait_failed later, never from inside this call).
  ServerLease acquire(Waiter& waiter);
  void cancel_wait(Waiter& waiter);
  // The error to give a client at once while server_login_retry says every host is down and no
  // server is connected; nullopt when the client should just wait.
  std::optional<protocol::ErrorFields> refusal() const;

  enum class Disposition {
    kReuse,    // clean: back to the pool (after the reset query when the mode needs it)
    kSalvage,  // mid-request after a cancel: swallow the rest, roll back, then reuse
    kClose,
  };
  // Called by ServerLease.
  void release(backend::ServerConnection& server, Disposition disposition);

  // Timeouts and eviction; called by the janitor.
  void tick();
  // Open servers for waiters if the limits now allow it.
  void serve_waiters();
  // Closes one idle server (the least recently used); false if none is idle.
  bool close_one_idle();

  // PAUSE: no server is handed out (clients queue), released and idle servers are closed.
  // RESUME serves the queue again.
  void set_paused(bool paused);
  // RECONNECT: every server open now is closed once released; idle ones at once.
  void reconnect();
  // A DNS re-resolution of `host` no longer lists these addresses: its servers connected to one
  // of them are closed once released; idle ones at once. Returns how many were marked.
  int retire_addresses(const std::string& host, const std::vector<std::string>& addresses);
  // Servers still open that RECONNECT or a reload marked for closing.
  int close_needed_count() const;
  // A reload: new limits and timeouts at once; a changed host list, port, database name or
  // password makes the open servers reconnect at release.
  void reconfigure(PoolSettings settings, const backend::ServerTarget& target);

  // The parameters of the first server that logged in, for greeting clients without a server.
  const std::optional<backend::ParameterSet>& welcome_parameters() const { return welcome_; }

  const PoolKey& key() const { return key_; }
  template <typename F>
  void for_each_server(F&& f) const {
    for (const auto& [ptr, server] : servers_) f(*server);
  }
  const PoolSettings& settings() const { return settings_; }
  // Serves only auth_query look-ups (no client has logged in as its user).
  bool lookup_only() const { return lookup_only_; }
  void set_lookup_only(bool lookup_only) { lookup_only_ = lookup_only; }
  // What a client's own login taught about logging in as this pool's user that the config does
  // not hold: a secret auth_query found (`secret`, empty if none), the SCRAM keys recovered from
  // the client's proof. The newest replace older ones, so after a password rotation the next
  // server logs in with the new password.
  void learn_credentials(const std::string& secret, std::optional<protocol::ScramKey> client_key,
                         std::optional<protocol::ScramKey> server_key);
  // saturation_action = reject_new: set while this pool's PoolSaturated alert fires, so new
  // logins are refused while more than `max_wait_queue` clients wait.
  void set_shedding(bool shedding) { shedding_ = shedding; }
  bool refuses_new_clients(int max_wait_queue) const {
    return shedding_ && static_cast<int>(waiters_.size()) > max_wait_queue;
  }
  PoolCounts counts() const;
  util::Duration longest_wait() const;
  // Clients logged in to this pool: each attaches once it has the pool and detaches when it
  // closes, so the registry forgets a pool (an idle auto-database's) only once none refers to it.
  void attach_client() { ++clients_; }
  void detach_client() { --clients_; }
  int clients() const { return clients_; }

  // Traffic counters, bumped by its servers and clients.
  metrics::PoolStats& stats() { return stats_; }
  const metrics::PoolStats& stats() const { return stats_; }
  // The averages over the last complete stats_period (see roll_stats).
  const metrics::StatsAverages& averages() const { return averages_; }
  // Ends a stats_period of `seconds`: the averages become those of the period just ended.
  void roll_stats(double seconds);

  // backend::ServerOwner
  void on_server_ready(backend::ServerConnection& server) override;
  void on_server_login_failed(backend::ServerConnection& server,
                              const protocol::ErrorFields& error,
                              backend::LoginFailure why) override;
  void on_server_closed(backend::ServerConnection& server, const std::string& reason) override;
  void on_server_cancels_done(backend::ServerConnection& server) override;

 private:
  void open_server();
  // query_wait_timeout and query_timeout for the clients still queued.
  void expire_waiters(util::TimePoint now);
  void login_failed(backend::ServerConnection& server, const protocol::ErrorFields& error,
                    backend::LoginFailure why, const char* close_text);
  void make_idle(backend::ServerConnection& server);
  void reuse(backend::ServerConnection& server);
  void salvage(backend::ServerConnection& server);
  void check_then_serve(backend::ServerConnection& server);
  int size_limit() const;
  std::string login_error_sqlstate() const;
  void enforce_query_timeout(backend::ServerConnection& server);
  // Closes and drops the server; `reason` (PgBouncer's words) defaults to the cause's.
  void close_server(backend::ServerConnection& server, metrics::ServerClose cause,
                    const char* reason = nullptr);
  void log_close(const backend::ServerConnection& server, std::string_view reason) const;
  // Every queued client gets the error.
  void fail_waiters(const std::string& sqlstate, const std::string& message);
  void drop(backend::ServerConnection& server);
  bool expired(const backend::ServerConnection& server) const;
  // Why a released or ready server must not be handed out again (paused pool, RECONNECT or a
  // changed target, lifetime over), if it must not.
  std::optional<metrics::ServerClose> retirement(const backend::ServerConnection& server) const;
  // After a failed login, every host is failing: no new server until server_login_retry lets
  // the first of them be tried again.
  bool held_back(util::TimePoint now) const;

  PoolContext& context_;
  PoolKey key_;
  PoolSettings settings_;
  backend::ServerTarget target_;
  std::string learned_secret_;  // from auth_query, used when the config has no secret
  bool lookup_only_ = false;
  ConnectionBudget& database_budget_;
  ConnectionBudget& user_budget_;
  std::unordered_map<backend::ServerConnection*, std::unique_ptr<backend::ServerConnection>>
      servers_;
  // In the order they went idle: the back (the warmest) is reused first, or the front (idle
  // the longest) with server_round_robin.
  std::vector<backend::ServerConnection*> idle_;
  WaitQueue waiters_;
  std::optional<backend::ParameterSet> welcome_;
  std::optional<protocol::ErrorFields> last_login_error_;
  HostRotation rotation_;
  // Servers still connecting or logging in, by the index in target_.hosts each one tries.
  std::unordered_map<const backend::ServerConnection*, std::size_t> logging_in_;
  int clients_ = 0;
  bool paused_ = false;
  bool shedding_ = false;
  metrics::PoolStats stats_;
  metrics::PoolStats period_start_;
  metrics::StatsAverages averages_;
};

}  // namespace pooler::pool
