// Pool: server hand-out, reuse and the timeouts of one (database, user).
#include "pooler/pool/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pooler/protocol/sqlstate.hpp"

namespace pooler::pool {

using backend::ServerConnection;
using backend::ServerState;
using metrics::ServerClose;

namespace {

// PgBouncer's words for each cause, as its log lines say "closing because: <reason>".
const char* close_reason(ServerClose cause) {
  switch (cause) {
    case ServerClose::kIdleTimeout:
      return "server idle timeout";
    case ServerClose::kLifetime:
      return "server lifetime over";
    case ServerClose::kPaused:
      return "pause mode";
    case ServerClose::kReconnect:
      return "database configuration changed";
    case ServerClose::kSurplus:
      return "too many servers in the pool";
    case ServerClose::kCheckFailed:
      return "test query failed";
    case ServerClose::kResetFailed:
      return "reset query failed";
    case ServerClose::kEvicted:
      return "evicted";
    case ServerClose::kClientGone:
      return "client disconnect while server was not ready";
    case ServerClose::kCancelWaitTimeout:
      return "cancel_wait_timeout";
    case ServerClose::kConnectTimeout:
      return "connect timeout";
    case ServerClose::kLoginFailed:
      return "connect failed";
    case ServerClose::kServerGone:
      return "server conn crashed?";
    case ServerClose::kShutdown:
      return "pooler is shutting down";
    case ServerClose::kCount:
      break;
  }
  return "closed";
}

void give_back(Pool*& pool, ServerConnection*& server, Pool::Disposition disposition) {
  if (server != nullptr) {
    std::exchange(pool, nullptr)->release(*std::exchange(server, nullptr), disposition);
  }
}

}  // namespace

void ServerLease::release() { give_back(pool_, server_, Pool::Disposition::kReuse); }

void ServerLease::discard() { give_back(pool_, server_, Pool::Disposition::kClose); }

void ServerLease::salvage() { give_back(pool_, server_, Pool::Disposition::kSalvage); }

Pool::Pool(PoolContext& context, PoolKey key, PoolSettings settings, backend::ServerTarget target,
           ConnectionBudget& database_budget, ConnectionBudget& user_budget)
    : context_(context),
      key_(std::move(key)),
      settings_(std::move(settings)),
      target_(std::move(target)),
      database_budget_(database_budget),
      user_budget_(user_budget),
      rotation_(target_.hosts.size(), settings_.load_balance_hosts) {}

Pool::~Pool() {
  while (auto entry = waiters_.pop()) {
    entry->waiter->on_wait_failed(protocol::sqlstate::kAdminShutdown, "pool is closing");
  }
  for (auto& [ptr, server] : servers_) {
    server->close();
    database_budget_.give_back();
    user_budget_.give_back();
    context_.graveyard.bury(std::move(server));
  }
}

void Pool::roll_stats(double seconds) {
  averages_ = metrics::average(period_start_, stats_, seconds);
  period_start_ = stats_;
}

PoolCounts Pool::counts() const {
  PoolCounts c;
  for (const auto& [ptr, server] : servers_) {
    switch (server->state()) {
      case ServerState::kConnecting:
      case ServerState::kLogin:
        ++c.opening;
        break;
      case ServerState::kIdle:
        ++c.idle;
        break;
      case ServerState::kActive:
        ++c.active;
        break;
      case ServerState::kInternal:
        ++c.resetting;
        break;
      case ServerState::kBeingCanceled:
        ++c.being_canceled;
        break;
      case ServerState::kClosed:
        break;
    }
    if (server->cancels_in_flight()) {
      backend::CancelCounts cancels = server->cancel_counts();
      c.cancel_requests_waiting += cancels.requests_waiting;
      c.cancel_requests_active += cancels.requests_active;
      c.cancel_connections += cancels.connections;
    }
  }
  c.waiting = static_cast<int>(waiters_.size());
  return c;
}

util::Duration Pool::longest_wait() const {
  const auto* front = waiters_.front();
  return front == nullptr ? util::Duration{} : context_.clock.now() - front->since;
}

bool Pool::held_back(util::TimePoint now) const {
  return last_login_error_ && rotation_.all_failing(now, settings_.server_login_retry);
}

std::optional<protocol::ErrorFields> Pool::refusal() const {
  // Asked on every request for a server: no clock read unless a login has failed.
  if (!last_login_error_ || !held_back(context_.clock.now())) return std::nullopt;
  // Only servers still logging in are there: nothing can serve the client before the retry.
  auto c = counts();
  if (c.total() != c.opening) return std::nullopt;
  return protocol::ErrorFields{"FATAL", login_error_sqlstate(),
                               "server login has been failing, try again later "
                               "(server_login_retry)"};
}

ServerLease Pool::acquire(Waiter& waiter) {
  auto now = context_.clock.now();
  while (!paused_ && !idle_.empty()) {
    ServerConnection* server;
    if (settings_.server_round_robin) {
      server = idle_.front();
      idle_.erase(idle_.begin());
    } else {
      server = idle_.back();
      idle_.pop_back();
    }
    if (server->state() != ServerState::kIdle) continue;
    if (now - server->state_since() >= settings_.server_check_delay) {
      // Idle long enough to have died unnoticed: check it, and serve the queue when it answers.
      waiters_.push(waiter, now);
      check_then_serve(*server);
      return {};
    }
    server->set_state(ServerState::kActive);
    return ServerLease(*this, *server);
  }
  waiters_.push(waiter, now);
  serve_waiters();
  return {};
}

void Pool::check_then_serve(ServerConnection& server) {
  server.run_internal(settings_.server_check_query, [this, &server](bool ok) {
    if (ok) {
      on_server_ready(server);
    } else {
      close_server(server, ServerClose::kCheckFailed);
    }
  });
}

void Pool::cancel_wait(Waiter& waiter) { waiters_.remove(waiter); }

int Pool::size_limit() const {
  // The reserve opens only for a client that has waited reserve_pool_timeout.
  const auto* front = waiters_.front();
  bool reserve = settings_.reserve_pool_size > 0 && front != nullptr &&
                 context_.clock.now() - front->since >= settings_.reserve_pool_timeout;
  return settings_.pool_size + (reserve ? settings_.reserve_pool_size : 0);
}

void Pool::serve_waiters() {
  if (paused_) return;
  // After a failed login, let PostgreSQL recover for server_login_retry before trying again; with
  // several hosts, only once every one of them has failed.
  if (last_login_error_ && held_back(context_.clock.now())) return;
  auto c = counts();
  int n = servers_to_open(c, size_limit(), database_budget_, user_budget_);
  for (int i = 0; i < n; ++i) open_server();
  bool budget_spent = !database_budget_.can_take() || !user_budget_.can_take();
  if (n == 0 && budget_spent && c.waiting > c.opening + c.resetting && c.total() < size_limit() &&
      context_.evict_idle_elsewhere) {
    // The freed room comes back through on_capacity_freed -> serve_waiters.
    context_.evict_idle_elsewhere(key_);
  }
}

bool Pool::close_one_idle() {
  if (idle_.empty()) return false;
  // The front of idle_ is the server idle the longest.
  ServerConnection* server = idle_.front();
  close_server(*server, ServerClose::kEvicted);
  return true;
}

void Pool::open_server() {
  std::size_t host = rotation_.pick(context_.clock.now(), settings_.server_login_retry);
  backend::ServerTarget target = target_;
  if (target.secret.empty()) target.secret = learned_secret_;
  if (host < target_.hosts.size()) {
    target.host = target_.hosts[host].host;
    target.port = target_.hosts[host].port;
  }
  auto server = std::make_unique<ServerConnection>(context_.loop, context_.dns, context_.clock,
                                                   std::move(target), *this,
                                                   context_.next_server_id++);
  ServerConnection* raw = server.get();
  raw->count_into(stats_);
  raw->track_statements(settings_.max_prepared_statements);
  servers_.emplace(raw, std::move(server));
  logging_in_[raw] = host;
  database_budget_.take();
  user_budget_.take();
  if (static_cast<int>(servers_.size()) > settings_.pool_size) {
    spdlog::warn("{} taking connection from reserve_pool", raw->log_prefix());
  }
  raw->connect();
}

void Pool::release(ServerConnection& server, Disposition disposition) {
  server.detach();
  if (server.state() == ServerState::kClosed || disposition == Disposition::kClose) {
    close_server(server, ServerClose::kClientGone);
    return;
  }
  if (disposition == Disposition::kSalvage) {
    salvage(server);
    return;
  }
  if (!server.clean()) {
    close_server(server, ServerClose::kClientGone, "unclean server");
    return;
  }
  reuse(server);
}

void Pool::salvage(ServerConnection& server) {
  server.drain([this, &server](bool) {
    if (server.state() == ServerState::kClosed) return;  // it died; already dropped
    if (server.clean()) {
      reuse(server);
      return;
    }
    // Left inside a (failed) transaction: roll it back so the next client starts clean.
    server.run_internal("ROLLBACK", [this, &server](bool rolled_back) {
      if (rolled_back) {
        reuse(server);
      } else {
        close_server(server, ServerClose::kResetFailed, "rollback after cancel failed");
      }
    });
  });
}

void Pool::set_paused(bool paused) {
  if (paused_ == paused) return;
  paused_ = paused;
  if (paused_) {
    // Pausing is for maintenance on PostgreSQL: let go of every connection not in use.
    while (!idle_.empty()) close_server(*idle_.back(), ServerClose::kPaused);
  } else {
    serve_waiters();
  }
}

void Pool::reconnect() {
  // What the pool remembers of its last login was about the servers it is dropping.
  last_login_error_.reset();
  for (auto& [ptr, server] : servers_) server->mark_close_needed();
  while (!idle_.empty()) close_server(*idle_.back(), ServerClose::kReconnect);
  serve_waiters();
}

int Pool::retire_addresses(const std::string& host, const std::vector<std::string>& addresses) {
  int marked = 0;
  for (auto& [ptr, server] : servers_) {
    if (server->target().host != host || server->close_needed()) continue;
    if (std::find(addresses.begin(), addresses.end(), server->remote_address()) ==
        addresses.end()) {
      continue;
    }
    server->mark_close_needed();
    ++marked;
  }
  std::vector<ServerConnection*> idle;
  for (ServerConnection* server : idle_) {
    if (server->close_needed()) idle.push_back(server);
  }
  for (ServerConnection* server : idle) {
    close_server(*server, ServerClose::kReconnect, "host address changed in DNS");
  }
  return marked;
}

int Pool::close_needed_count() const {
  return static_cast<int>(std::count_if(servers_.begin(), servers_.end(), [](const auto& entry) {
    return entry.second->close_needed();
  }));
}

void Pool::reconfigure(PoolSettings settings, const backend::ServerTarget& target) {
  // Servers track statements as they were opened to: a client's names must mean the same on
  // every server it is given.
  bool retracked = settings.max_prepared_statements != settings_.max_prepared_statements;
  settings_ = std::move(settings);
  bool moved_hosts = target.hosts != target_.hosts;
  bool moved = moved_hosts || target.dbname != target_.dbname || target.secret != target_.secret ||
               target.tls != target_.tls;
  if (moved_hosts) {
    rotation_ = HostRotation(target.hosts.size(), settings_.load_balance_hosts);
    logging_in_.clear();  // their host indexes are of the old list
  } else {
    rotation_.set_mode(settings_.load_balance_hosts);
  }
  // The SCRAM keys came from a client's own login, not from the config: they stay.
  auto client_key = std::move(target_.scram_client_key);
  auto server_key = std::move(target_.scram_server_key);
  target_ = target;
  target_.scram_client_key = std::move(client_key);
  target_.scram_server_key = std::move(server_key);
  if (moved) {
    spdlog::info("{}/{}: server target changed, reconnecting at release", key_.database,
                 key_.user);
    reconnect();
  } else if (retracked) {
    spdlog::info("{}/{}: prepared statement tracking changed, reconnecting at release",
                 key_.database, key_.user);
    reconnect();
  }
  serve_waiters();  // a bigger pool serves its queue now
}

void Pool::learn_credentials(const std::string& secret,
                             std::optional<protocol::ScramKey> client_key,
                             std::optional<protocol::ScramKey> server_key) {
  if (!secret.empty()) learned_secret_ = secret;
  if (client_key && server_key) {
    target_.scram_client_key = client_key;
    target_.scram_server_key = server_key;
  }
}

std::optional<ServerClose> Pool::retirement(const ServerConnection& server) const {
  if (paused_) return ServerClose::kPaused;
  if (server.close_needed()) return ServerClose::kReconnect;
  if (expired(server)) return ServerClose::kLifetime;
  return std::nullopt;
}

void Pool::reuse(ServerConnection& server) {
  if (server.cancels_in_flight()) {
    // PostgreSQL may not have signalled the backend yet: a cancel landing after the next
    // client's query started would stop that query. Wait for on_server_cancels_done.
    server.set_state(ServerState::kBeingCanceled);
    return;
  }
  if (auto retire = retirement(server)) {
    close_server(server, *retire);
    return;
  }
  // Closed servers leave servers_ at once, so its size is the open count; no walk per release.
  if (static_cast<int>(servers_.size()) > settings_.pool_size && waiters_.empty()) {
    close_server(server, ServerClose::kSurplus);
    return;
  }
  bool reset = settings_.mode == config::PoolMode::kSession || settings_.reset_query_always;
  if (reset && !settings_.reset_query.empty()) {
    server.run_internal(settings_.reset_query, [this, &server](bool ok) {
      if (ok) {
        on_server_ready(server);
      } else {
        close_server(server, ServerClose::kResetFailed);
      }
    });
    return;
  }
  on_server_ready(server);
}

void Pool::on_server_ready(ServerConnection& server) {
  if (!welcome_) welcome_ = server.parameters();
  last_login_error_.reset();
  if (auto it = logging_in_.find(&server); it != logging_in_.end()) {
    rotation_.succeeded(it->second);
    logging_in_.erase(it);
  }
  if (auto retire = retirement(server)) {
    close_server(server, *retire);
    return;
  }
  if (auto entry = waiters_.pop()) {
    server.set_state(ServerState::kActive);
    entry->waiter->on_server_granted(ServerLease(*this, server));
    return;
  }
  make_idle(server);
}

void Pool::make_idle(ServerConnection& server) {
  server.set_state(ServerState::kIdle);
  server.resume_reading();
  idle_.push_back(&server);
}

void Pool::on_server_login_failed(ServerConnection& server, const protocol::ErrorFields& error,
                                  backend::LoginFailure why) {
  // PgBouncer's close reason: the server's own message when it refused, else "connect failed".
  login_failed(server, error, why,
               why == backend::LoginFailure::kRefused ? error.message.c_str()
                                                      : close_reason(ServerClose::kLoginFailed));
}

void Pool::login_failed(ServerConnection& server, const protocol::ErrorFields& error,
                        backend::LoginFailure why, const char* close_text) {
  spdlog::warn("{} server login failed: {}", server.log_prefix(), error.message);
  log_close(server, close_text);
  last_login_error_ = error;
  if (auto it = logging_in_.find(&server); it != logging_in_.end()) {
    rotation_.failed(it->second, context_.clock.now());
    logging_in_.erase(it);
  }
  ++stats_.server_login_failures;
  context_.events.count(ServerClose::kLoginFailed);
  drop(server);
  if (why == backend::LoginFailure::kWrongPasswordType) {
    // No later attempt can do better with the secret the pooler holds: say so now.
    fail_waiters(protocol::sqlstate::kConnectionFailure, error.message);
    return;
  }
  if (!welcome_ && rotation_.all_failed()) {
    // Nobody has been greeted yet and no host is left to try: the clients logging in hear the
    // reason now (PostgreSQL's own refusal, or why it cannot be reached) rather than at their
    // query_wait_timeout.
    fail_waiters(login_error_sqlstate(), error.message);
  }
  // Unreachable, or refused once the pool has logged in before (PostgreSQL restarting): the
  // queued clients stay queued, since a retry after server_login_retry may serve them before
  // their own timeout ends.
}

void Pool::fail_waiters(const std::string& sqlstate, const std::string& message) {
  while (auto entry = waiters_.pop()) entry->waiter->on_wait_failed(sqlstate, message);
}

std::string Pool::login_error_sqlstate() const {
  return last_login_error_ && !last_login_error_->sqlstate.empty()
             ? last_login_error_->sqlstate
             : std::string(protocol::sqlstate::kConnectionFailure);
}

void Pool::on_server_closed(ServerConnection& server, const std::string& reason) {
  context_.events.count(ServerClose::kServerGone);
  log_close(server, reason);
  drop(server);
}

void Pool::on_server_cancels_done(ServerConnection& server) {
  if (server.state() == ServerState::kBeingCanceled) reuse(server);
}

void Pool::close_server(ServerConnection& server, ServerClose cause, const char* reason) {
  context_.events.count(cause);
  log_close(server, reason != nullptr ? reason : close_reason(cause));
  server.close();
  drop(server);
}

void Pool::drop(ServerConnection& server) {
  auto it = servers_.find(&server);
  if (it == servers_.end()) return;
  idle_.erase(std::remove(idle_.begin(), idle_.end(), &server), idle_.end());
  logging_in_.erase(&server);
  database_budget_.give_back();
  user_budget_.give_back();
  context_.graveyard.bury(std::move(it->second));
  servers_.erase(it);
  if (context_.on_capacity_freed) context_.on_capacity_freed(key_);
  serve_waiters();
}

void Pool::log_close(const ServerConnection& server, std::string_view reason) const {
  if (!settings_.log_disconnections) return;
  auto age = util::duration_to_seconds(context_.clock.now() - server.connected_at());
  spdlog::info("{} closing because: {} (age={:.0f}s)", server.log_prefix(), reason, age);
}

bool Pool::expired(const ServerConnection& server) const {
  return settings_.server_lifetime > util::Duration{} &&
         context_.clock.now() - server.connected_at() >= settings_.server_lifetime;
}

void Pool::enforce_query_timeout(ServerConnection& server) {
  server.mark_timed_out();
  context_.events.count(metrics::Timeout::kQueryTimeout);
  spdlog::warn("{} query_timeout: cancelling the running query", server.log_prefix());
  server.send_cancel();
  if (backend::ServerPeer* peer = server.peer()) peer->on_query_timeout();
}

void Pool::expire_waiters(util::TimePoint now) {
  // Both clocks run from when the client queued, so the front of the queue expires first.
  // query_timeout counts waiting as part of the query, as PgBouncer does.
  auto positive = [](util::Duration d) { return d > util::Duration{}; };
  util::Duration query_limit = settings_.query_timeout;
  util::Duration wait_limit = settings_.query_wait_timeout;
  if (!positive(query_limit) && !positive(wait_limit)) return;
  util::Duration first = !positive(query_limit)  ? wait_limit
                         : !positive(wait_limit) ? query_limit
                                                 : std::min(query_limit, wait_limit);
  while (const auto* front = waiters_.front()) {
    util::Duration waited = now - front->since;
    if (waited < first) break;
    auto entry = waiters_.pop();
    if (positive(query_limit) && waited >= query_limit) {
      context_.events.count(metrics::Timeout::kQueryTimeout);
      entry->waiter->on_wait_failed(protocol::sqlstate::kQueryCanceled, "query_timeout");
      continue;
    }
    ++stats_.query_wait_timeouts;
    context_.events.count(metrics::Timeout::kQueryWaitTimeout);
    if (last_login_error_) {
      // Still no server because PostgreSQL cannot be reached: that is the real reason.
      entry->waiter->on_wait_failed(login_error_sqlstate(), last_login_error_->message);
    } else {
      entry->waiter->on_wait_failed(protocol::sqlstate::kProtocolViolation,
                                    "query_wait_timeout");
    }
  }
}

void Pool::tick() {
  auto now = context_.clock.now();
  expire_waiters(now);
  auto positive = [](util::Duration d) { return d > util::Duration{}; };
  std::vector<ServerConnection*> timed_out;
  std::vector<ServerConnection*> fast_close;
  struct Closing {
    ServerConnection* server;
    ServerClose cause;
    metrics::Timeout timeout;
    const char* reason;
  };
  std::vector<Closing> to_close;
  int total = static_cast<int>(servers_.size());
  for (auto& [ptr, server] : servers_) {
    auto in_state = now - server->state_since();
    // Never calls back into the pool, so it may run inside the walk.
    if (positive(settings_.cancel_wait_timeout) && server->cancels_in_flight()) {
      server->expire_cancels(now, settings_.cancel_wait_timeout);
    }
    switch (server->state()) {
      case ServerState::kConnecting:
      case ServerState::kLogin:
        if (positive(settings_.server_connect_timeout) &&
            in_state >= settings_.server_connect_timeout) {
          to_close.push_back({ptr, ServerClose::kConnectTimeout,
                              metrics::Timeout::kServerConnectTimeout, nullptr});
        }
        break;
      case ServerState::kIdle:
        if (total > settings_.min_pool_size && expired(*server)) {
          to_close.push_back(
              {ptr, ServerClose::kLifetime, metrics::Timeout::kServerLifetime, nullptr});
          --total;
        } else if (total > settings_.min_pool_size && positive(settings_.server_idle_timeout) &&
                   in_state >= settings_.server_idle_timeout) {
          to_close.push_back(
              {ptr, ServerClose::kIdleTimeout, metrics::Timeout::kServerIdleTimeout, nullptr});
          --total;
        }
        break;
      case ServerState::kActive:
        if (positive(settings_.query_timeout) && server->busy() && !server->timed_out() &&
            now - server->busy_since() >= settings_.query_timeout) {
          timed_out.push_back(ptr);
        } else if (settings_.server_fast_close && server->close_needed() && server->clean() &&
                   server->peer() != nullptr) {
          // Between transactions: the session ends now rather than when the client leaves.
          fast_close.push_back(ptr);
        }
        break;
      case ServerState::kInternal:
      case ServerState::kBeingCanceled:
        if (positive(settings_.cancel_wait_timeout) &&
            in_state >= settings_.cancel_wait_timeout) {
          to_close.push_back({ptr, ServerClose::kCancelWaitTimeout,
                              metrics::Timeout::kCancelWaitTimeout, nullptr});
        }
        break;
      case ServerState::kClosed:
        break;
    }
  }
  for (ServerConnection* server : timed_out) enforce_query_timeout(*server);
  for (ServerConnection* server : fast_close) {
    if (servers_.count(server) == 0 || server->peer() == nullptr) continue;
    server->peer()->on_server_fast_close(close_reason(ServerClose::kReconnect));
  }
  for (auto [server, cause, timeout, reason] : to_close) {
    if (servers_.count(server) == 0) continue;
    context_.events.count(timeout);
    if (server->state() == ServerState::kConnecting || server->state() == ServerState::kLogin) {
      server->close();
      login_failed(*server,
                   {"FATAL", protocol::sqlstate::kConnectionFailure,
                    "pooler cannot connect to server: server_connect_timeout"},
                   backend::LoginFailure::kUnreachable, close_reason(cause));
    } else {
      close_server(*server, cause, reason);
    }
  }
  serve_waiters();
  // min_pool_size: keep that many servers open and warm, refilled after failures.
  if (!paused_ && !held_back(now)) {
    int missing = settings_.min_pool_size - static_cast<int>(servers_.size());
    for (int i = 0; i < missing && database_budget_.can_take() && user_budget_.can_take(); ++i) {
      open_server();
    }
  }
}

}  // namespace pooler::pool
