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
      user_budget_(user_budget) {}

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
      case ServerState::kClosed:
        break;
    }
  }
  c.waiting = static_cast<int>(waiters_.size());
  return c;
}

util::Duration Pool::longest_wait() const {
  const auto* front = waiters_.front();
  return front == nullptr ? util::Duration{} : context_.clock.now() - front->since;
}

std::optional<protocol::ErrorFields> Pool::refusal() const {
  if (!last_login_error_ || context_.clock.now() >= login_retry_after_) return std::nullopt;
  if (!servers_.empty()) return std::nullopt;
  return last_login_error_;
}

ServerLease Pool::acquire(Waiter& waiter) {
  auto now = context_.clock.now();
  while (!paused_ && !idle_.empty()) {
    ServerConnection* server = idle_.back();
    idle_.pop_back();
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
      close_server(server, ServerClose::kCheckFailed, "server check query failed");
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
  // After a failed login, let PostgreSQL recover for server_login_retry before trying again.
  if (last_login_error_ && context_.clock.now() < login_retry_after_) return;
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
  // idle_ is a stack: the bottom is the server idle the longest.
  ServerConnection* server = idle_.front();
  close_server(*server, ServerClose::kEvicted,
               "evicted: another pool needs the connection (max_db_connections or "
               "max_user_connections)");
  return true;
}

void Pool::open_server() {
  auto server = std::make_unique<ServerConnection>(context_.loop, context_.clock, target_, *this,
                                                   context_.next_server_id++);
  ServerConnection* raw = server.get();
  raw->count_into(stats_);
  servers_.emplace(raw, std::move(server));
  database_budget_.take();
  user_budget_.take();
  spdlog::debug("S-{:#x} {}/{} new connection to server", raw->id(), key_.database, key_.user);
  raw->connect();
}

void Pool::release(ServerConnection& server, Disposition disposition) {
  server.detach();
  if (server.state() == ServerState::kClosed || disposition == Disposition::kClose) {
    close_server(server, ServerClose::kClientGone, "client close request");
    return;
  }
  if (disposition == Disposition::kSalvage) {
    salvage(server);
    return;
  }
  if (!server.clean()) {
    close_server(server, ServerClose::kClientGone,
                 "client released a server that is not idle");
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
    while (!idle_.empty()) close_server(*idle_.back(), ServerClose::kPaused, "pause mode");
  } else {
    serve_waiters();
  }
}

void Pool::reconnect() {
  for (auto& [ptr, server] : servers_) server->mark_close_needed();
  while (!idle_.empty()) {
    close_server(*idle_.back(), ServerClose::kReconnect, "reconnect requested");
  }
  serve_waiters();
}

int Pool::close_needed_count() const {
  return static_cast<int>(std::count_if(servers_.begin(), servers_.end(), [](const auto& entry) {
    return entry.second->close_needed();
  }));
}

void Pool::reconfigure(PoolSettings settings, const backend::ServerTarget& target) {
  settings_ = std::move(settings);
  bool moved = target.host != target_.host || target.port != target_.port ||
               target.dbname != target_.dbname || target.secret != target_.secret;
  // The SCRAM keys came from a client's own login, not from the config: they stay.
  auto client_key = std::move(target_.scram_client_key);
  auto server_key = std::move(target_.scram_server_key);
  target_ = target;
  target_.scram_client_key = std::move(client_key);
  target_.scram_server_key = std::move(server_key);
  if (moved) {
    spdlog::info("{}/{}: server target changed, reconnecting at release", key_.database,
                 key_.user);
    last_login_error_.reset();
    reconnect();
  }
  serve_waiters();  // a bigger pool serves its queue now
}

std::optional<Pool::Retirement> Pool::retirement(const ServerConnection& server) const {
  if (paused_) return Retirement{ServerClose::kPaused, "pause mode"};
  if (server.close_needed()) return Retirement{ServerClose::kReconnect, "reconnect requested"};
  if (expired(server)) return Retirement{ServerClose::kLifetime, "server lifetime over"};
  return std::nullopt;
}

void Pool::reuse(ServerConnection& server) {
  if (auto retire = retirement(server)) {
    close_server(server, retire->cause, retire->reason);
    return;
  }
  // Closed servers leave servers_ at once, so its size is the open count; no walk per release.
  if (static_cast<int>(servers_.size()) > settings_.pool_size && waiters_.empty()) {
    close_server(server, ServerClose::kSurplus, "reserve server no longer needed");
    return;
  }
  bool reset = settings_.mode == config::PoolMode::kSession || settings_.reset_query_always;
  if (reset && !settings_.reset_query.empty()) {
    server.run_internal(settings_.reset_query, [this, &server](bool ok) {
      if (ok) {
        on_server_ready(server);
      } else {
        close_server(server, ServerClose::kResetFailed, "reset query failed");
      }
    });
    return;
  }
  on_server_ready(server);
}

void Pool::on_server_ready(ServerConnection& server) {
  if (!welcome_) welcome_ = server.parameters();
  last_login_error_.reset();
  if (auto retire = retirement(server)) {
    close_server(server, retire->cause, retire->reason);
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
                                  bool refused) {
  spdlog::warn("S-{:#x} {}/{} server login failed: {}", server.id(), key_.database, key_.user,
               error.message);
  last_login_error_ = error;
  login_retry_after_ = context_.clock.now() + settings_.server_login_retry;
  ++stats_.server_login_failures;
  context_.events.count(ServerClose::kLoginFailed);
  drop(server);
  if (!refused) {
    // Unreachable: the waiting clients stay queued for the retry after server_login_retry, and
    // get this error if their query_wait_timeout comes first.
    return;
  }
  // PostgreSQL said no (bad password, no such database): waiting would only meet the same
  // answer, so every waiting client gets the server's own error now.
  while (auto entry = waiters_.pop()) {
    entry->waiter->on_wait_failed(login_error_sqlstate(), error.message);
  }
}

std::string Pool::login_error_sqlstate() const {
  return last_login_error_ && !last_login_error_->sqlstate.empty()
             ? last_login_error_->sqlstate
             : std::string(protocol::sqlstate::kConnectionFailure);
}

void Pool::on_server_closed(ServerConnection& server, const std::string& reason) {
  context_.events.count(ServerClose::kServerGone);
  spdlog::info("S-{:#x} {}/{} closing because: {}", server.id(), key_.database, key_.user, reason);
  drop(server);
}

void Pool::close_server(ServerConnection& server, ServerClose cause, const char* reason) {
  context_.events.count(cause);
  spdlog::debug("S-{:#x} {}/{} closing because: {}", server.id(), key_.database, key_.user,
                reason);
  server.close();
  drop(server);
}

void Pool::drop(ServerConnection& server) {
  auto it = servers_.find(&server);
  if (it == servers_.end()) return;
  idle_.erase(std::remove(idle_.begin(), idle_.end(), &server), idle_.end());
  database_budget_.give_back();
  user_budget_.give_back();
  context_.graveyard.bury(std::move(it->second));
  servers_.erase(it);
  if (context_.on_capacity_freed) context_.on_capacity_freed(key_);
  serve_waiters();
}

bool Pool::expired(const ServerConnection& server) const {
  return settings_.server_lifetime > util::Duration{} &&
         context_.clock.now() - server.connected_at() >= settings_.server_lifetime;
}

void Pool::enforce_query_timeout(ServerConnection& server) {
  server.mark_timed_out();
  context_.events.count(metrics::Timeout::kQueryTimeout);
  spdlog::warn("S-{:#x} {}/{} query_timeout: cancelling the running query", server.id(),
               key_.database, key_.user);
  server.cancel_running_query();
  if (backend::ServerPeer* peer = server.peer()) peer->on_query_timeout();
}

void Pool::tick() {
  auto now = context_.clock.now();
  if (settings_.query_wait_timeout > util::Duration{}) {
    while (const auto* front = waiters_.front()) {
      if (now - front->since < settings_.query_wait_timeout) break;
      auto entry = waiters_.pop();
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
  auto positive = [](util::Duration d) { return d > util::Duration{}; };
  std::vector<ServerConnection*> timed_out;
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
    switch (server->state()) {
      case ServerState::kConnecting:
      case ServerState::kLogin:
        if (positive(settings_.server_connect_timeout) &&
            in_state >= settings_.server_connect_timeout) {
          to_close.push_back({ptr, ServerClose::kConnectTimeout,
                              metrics::Timeout::kServerConnectTimeout, "server_connect_timeout"});
        }
        break;
      case ServerState::kIdle:
        if (total > settings_.min_pool_size && expired(*server)) {
          to_close.push_back({ptr, ServerClose::kLifetime, metrics::Timeout::kServerLifetime,
                              "server lifetime over"});
          --total;
        } else if (total > settings_.min_pool_size && positive(settings_.server_idle_timeout) &&
                   in_state >= settings_.server_idle_timeout) {
          to_close.push_back({ptr, ServerClose::kIdleTimeout,
                              metrics::Timeout::kServerIdleTimeout, "server idle timeout"});
          --total;
        }
        break;
      case ServerState::kActive:
        if (positive(settings_.query_timeout) && server->busy() && !server->timed_out() &&
            now - server->busy_since() >= settings_.query_timeout) {
          timed_out.push_back(ptr);
        }
        break;
      case ServerState::kInternal:
        if (positive(settings_.cancel_wait_timeout) &&
            in_state >= settings_.cancel_wait_timeout) {
          to_close.push_back({ptr, ServerClose::kCancelWaitTimeout,
                              metrics::Timeout::kCancelWaitTimeout,
                              "server did not answer in time (cancel_wait_timeout)"});
        }
        break;
      case ServerState::kClosed:
        break;
    }
  }
  for (ServerConnection* server : timed_out) enforce_query_timeout(*server);
  for (auto [server, cause, timeout, reason] : to_close) {
    if (servers_.count(server) == 0) continue;
    context_.events.count(timeout);
    if (server->state() == ServerState::kConnecting || server->state() == ServerState::kLogin) {
      server->close();
      on_server_login_failed(*server,
                             {"FATAL", protocol::sqlstate::kConnectionFailure,
                              "pooler cannot connect to server: " + std::string(reason)},
                             false);
    } else {
      close_server(*server, cause, reason);
    }
  }
  serve_waiters();
  // min_pool_size: keep that many servers open and warm, refilled after failures.
  if (!paused_ && !(last_login_error_ && now < login_retry_after_)) {
    int missing = settings_.min_pool_size - static_cast<int>(servers_.size());
    for (int i = 0; i < missing && database_budget_.can_take() && user_budget_.can_take(); ++i) {
      open_server();
    }
  }
}

}  // namespace pooler::pool
