// Pool: server hand-out, reuse and the timeouts of one (database, user).
#include "pooler/pool/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pooler/protocol/sqlstate.hpp"

namespace pooler::pool {

using backend::ServerConnection;
using backend::ServerState;

void ServerLease::release() {
  if (server_ != nullptr) std::exchange(pool_, nullptr)->release(*std::exchange(server_, nullptr), true);
}

void ServerLease::discard() {
  if (server_ != nullptr) std::exchange(pool_, nullptr)->release(*std::exchange(server_, nullptr), false);
}

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

ServerLease Pool::acquire(Waiter& waiter) {
  while (!idle_.empty()) {
    ServerConnection* server = idle_.back();
    idle_.pop_back();
    if (server->state() != ServerState::kIdle) continue;
    server->set_state(ServerState::kActive);
    return ServerLease(*this, *server);
  }
  waiters_.push(waiter, context_.clock.now());
  serve_waiters();
  return {};
}

void Pool::cancel_wait(Waiter& waiter) { waiters_.remove(waiter); }

void Pool::serve_waiters() {
  int n = servers_to_open(counts(), settings_.pool_size, database_budget_, user_budget_);
  for (int i = 0; i < n; ++i) open_server();
}

void Pool::open_server() {
  auto server = std::make_unique<ServerConnection>(context_.loop, context_.clock, target_, *this,
                                                   context_.next_server_id++);
  ServerConnection* raw = server.get();
  servers_.emplace(raw, std::move(server));
  database_budget_.take();
  user_budget_.take();
  spdlog::debug("S-{:#x} {}/{} new connection to server", raw->id(), key_.database, key_.user);
  raw->connect();
}

void Pool::release(ServerConnection& server, bool reusable) {
  server.detach();
  if (!reusable || !server.clean() || server.state() == ServerState::kClosed) {
    close_server(server, reusable ? "client released a server that is not idle"
                                  : "client close request");
    return;
  }
  if (expired(server)) {
    close_server(server, "server lifetime over");
    return;
  }
  bool reset = settings_.mode == config::PoolMode::kSession || settings_.reset_query_always;
  if (reset && !settings_.reset_query.empty()) {
    server.run_internal(settings_.reset_query, [this, &server](bool ok) {
      if (ok) {
        on_server_ready(server);
      } else {
        close_server(server, "reset query failed");
      }
    });
    return;
  }
  on_server_ready(server);
}

void Pool::on_server_ready(ServerConnection& server) {
  if (!welcome_) welcome_ = server.parameters();
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

void Pool::on_server_login_failed(ServerConnection& server, const protocol::ErrorFields& error) {
  spdlog::warn("S-{:#x} {}/{} server login failed: {}", server.id(), key_.database, key_.user,
               error.message);
  drop(server);
  // The clients waiting here would only meet the same failure: tell them what the server said.
  std::string sqlstate = error.sqlstate.empty() ? protocol::sqlstate::kConnectionFailure
                                                : error.sqlstate;
  while (auto entry = waiters_.pop()) {
    entry->waiter->on_wait_failed(sqlstate, error.message);
  }
}

void Pool::on_server_closed(ServerConnection& server, const std::string& reason) {
  spdlog::info("S-{:#x} {}/{} closing because: {}", server.id(), key_.database, key_.user, reason);
  drop(server);
}

void Pool::close_server(ServerConnection& server, const std::string& reason) {
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

void Pool::tick() {
  auto now = context_.clock.now();
  if (settings_.query_wait_timeout > util::Duration{}) {
    while (const auto* front = waiters_.front()) {
      if (now - front->since < settings_.query_wait_timeout) break;
      auto entry = waiters_.pop();
      entry->waiter->on_wait_failed(protocol::sqlstate::kProtocolViolation, "query_wait_timeout");
    }
  }
  std::vector<ServerConnection*> to_close;
  for (auto& [ptr, server] : servers_) {
    auto age_in_state = now - server->state_since();
    bool opening = server->state() == ServerState::kConnecting ||
                   server->state() == ServerState::kLogin;
    if (opening && settings_.server_connect_timeout > util::Duration{} &&
        age_in_state >= settings_.server_connect_timeout) {
      to_close.push_back(ptr);
    } else if (server->state() == ServerState::kIdle &&
               ((settings_.server_idle_timeout > util::Duration{} &&
                 age_in_state >= settings_.server_idle_timeout) ||
                expired(*server))) {
      to_close.push_back(ptr);
    }
  }
  for (ServerConnection* server : to_close) {
    if (server->state() == ServerState::kIdle) {
      close_server(*server, "server idle timeout or lifetime");
    } else {
      server->close();
      on_server_login_failed(*server, {"FATAL", protocol::sqlstate::kConnectionFailure,
                                       "pooler cannot connect to server: server_connect_timeout"});
    }
  }
}

}  // namespace pooler::pool
