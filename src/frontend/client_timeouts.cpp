// ClientConnection's timeouts, as the janitor finds them: client_login_timeout,
// client_idle_timeout, idle_transaction_timeout, transaction_timeout and query_wait_notify, with
// the per-user values of [users] over the global ones.
#include "pooler/frontend/client_connection.hpp"

#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;

namespace {

// During a drain, how long a client that has just logged in may stay idle before it is told:
// long enough for the transaction it came to run, short enough not to hold the shutdown.
constexpr util::Duration kFreshClientGrace = std::chrono::seconds(1);

// PostgreSQL 17's SQLSTATE for its own transaction_timeout.
constexpr const char* kTransactionTimeout = "25P04";

}  // namespace

void ClientConnection::apply_timeouts() { user_entry_ = config_->find_user(user_); }

util::Duration ClientConnection::user_timeout(double global,
                                              std::optional<double> config::UserEntry::*per_user)
    const {
  const std::optional<double>* own = user_entry_ ? &(user_entry_->*per_user) : nullptr;
  return util::seconds_to_duration(own && *own ? **own : global);
}

bool ClientConnection::login_over() const {
  switch (state_) {
    case ClientState::kIdle:
    case ClientState::kWaiting:
    case ClientState::kActive:
    case ClientState::kConsole:
      return true;
    case ClientState::kReplication:
      return greeted_;
    default:
      return false;
  }
}

void ClientConnection::check_timeouts(util::TimePoint now) {
  if (login_ && login_over()) login_.reset();
  // An idle client that names no prepared statement keeps no tracking buffers between
  // transactions; the next one made again costs one allocation per janitor tick at most.
  if (tracking_ && state_ == ClientState::kIdle && tracking_->statements.size() == 0 &&
      tracking_->splitter.at_boundary()) {
    tracking_.reset();
  }
  const config::Settings& settings = config_->settings;
  auto expired = [now](util::TimePoint since, util::Duration limit) {
    return limit > util::Duration{} && now - since >= limit;
  };
  switch (state_) {
    case ClientState::kReplication:
      if (greeted_) return;  // a walsender is never idle in the pooler's sense
      [[fallthrough]];
    case ClientState::kStartup:
    case ClientState::kAuth:
      if (login_ && login_->lookup && now >= login_->lookup_deadline) {
        on_lookup_answer({backend::AuthQueryAnswer::Kind::kError, {}, "auth_query timed out"});
        return;
      }
      if (login_ && expired(connected_at_, login_->login_timeout)) {
        context_.pools.events().count(metrics::Timeout::kClientLoginTimeout);
        refuse(metrics::Refusal::kLoginTimeout, ss::kProtocolViolation,
               "client_login_timeout (server down or wrong password?)");
      }
      return;
    case ClientState::kIdle:
      if (finish_ && !ran_transaction_ && expired(idle_since_, kFreshClientGrace)) {
        // Logged in during a drain but sends nothing: it does not hold the shutdown up.
        auto finish = std::move(*finish_);
        fail(finish.sqlstate, finish.message);
        return;
      }
      if (expired(idle_since_, user_timeout(settings.client_idle_timeout,
                                            &config::UserEntry::client_idle_timeout))) {
        idle_timed_out();
      }
      return;
    case ClientState::kActive: {
      if (!server_ || server_->state() != backend::ServerState::kActive) return;
      bool open = server_->in_transaction();
      if (open && expired(server_->transaction_started(),
                          user_timeout(settings.transaction_timeout,
                                       &config::UserEntry::transaction_timeout))) {
        transaction_timed_out();
        return;
      }
      if (server_->busy()) return;
      util::TimePoint since = std::max(idle_since_, server_->last_ready_at());
      if (server_->transaction_status() == 'I') {
        if (expired(since, user_timeout(settings.client_idle_timeout,
                                        &config::UserEntry::client_idle_timeout))) {
          idle_timed_out();
        }
      } else if (expired(since, user_timeout(settings.idle_transaction_timeout,
                                             &config::UserEntry::idle_transaction_timeout))) {
        // Roll the server back and reuse it rather than lose a connection to an idle client.
        server_.salvage();
        context_.pools.events().count(metrics::Timeout::kIdleTransactionTimeout);
        fail(ss::kIdleInTransactionTimeout, "idle transaction timeout");
      }
      return;
    }
    case ClientState::kConsole:
      if (console_->blocked()) poll_console();
      return;
    case ClientState::kWaiting:
      if (!wait_notified_ &&
          expired(wait_started_, util::seconds_to_duration(settings.query_wait_notify))) {
        notify_waiting();
      }
      return;
    case ClientState::kLoginWait:
    case ClientState::kCancelRequest:  // its cancel's own timeout ends it
    case ClientState::kClosed:
      return;
  }
}

void ClientConnection::idle_timed_out() {
  context_.pools.events().count(metrics::Timeout::kClientIdleTimeout);
  fail(ss::kProtocolViolation, "client_idle_timeout");
}

void ClientConnection::transaction_timed_out() {
  context_.pools.events().count(metrics::Timeout::kTransactionTimeout);
  // The pool stops what runs, rolls the server back and reuses it (closed if it does not come
  // back idle within cancel_wait_timeout).
  if (server_->busy()) server_->abandon_request();
  server_.salvage();
  fail(kTransactionTimeout, "transaction timeout");
}

void ClientConnection::notify_waiting() {
  wait_notified_ = true;
  std::string out;
  // PgBouncer's words.
  protocol::append_notice(out, "No server connection available in postgres backend, client "
                               "being queued");
  stream_->write(out);
}

}  // namespace pooler::frontend
