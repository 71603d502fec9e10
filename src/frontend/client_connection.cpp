// ClientConnection: server hand-out per pool mode, the client half of forwarding, timeouts,
// cancels and the one way out (fail/close). The login is in client_login.cpp.
#include "pooler/frontend/client_connection.hpp"

#include <spdlog/spdlog.h>

#include "pooler/frontend/client_registry.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;
using config::PoolMode;

namespace {

// Input a client may queue while it has no server before the pooler stops reading from it.
constexpr std::size_t kMaxQueuedBytes = 64 * 1024;

// The client messages the statement rewriter reads whole: those that name statements, and every
// request that has replies (the reply filter follows them in order).
constexpr std::string_view kRewrittenTypes = "PBDCQESF";

// A reused buffer that grew for one big message is not kept for the life of the connection.
constexpr std::size_t kKeptBufferCapacity = 64 * 1024;

void trim(std::string& buffer) {
  if (buffer.capacity() > kKeptBufferCapacity) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace

ClientConnection::ClientConnection(FrontendContext& context, std::unique_ptr<net::Stream> stream,
                                   std::uint64_t id)
    : context_(context),
      stream_(std::move(stream)),
      id_(id),
      peer_(stream_->peer()),
      connected_at_(context.clock.now()),
      config_(context.config()),
      login_(std::make_unique<Login>(
          context.client_tls, util::seconds_to_duration(config_->settings.client_login_timeout))),
      scanner_(static_cast<std::size_t>(config_->settings.max_packet_size), "") {}

// close() has already left the wait queue and returned the server; the pool may be gone now.
ClientConnection::~ClientConnection() = default;

std::string ClientConnection::prefix() const {
  std::string where = peer_.is_unix ? "unix" : peer_.addr + ":" + std::to_string(peer_.port);
  return fmt::format("C-{:#x}: {}/{}@{}", id_, database_.empty() ? "(nodb)" : database_,
                     user_.empty() ? "(nouser)" : user_, where);
}

void ClientConnection::start() {
  stream_->set_handler(this);
  stream_->start_reading();
}

void ClientConnection::on_read(util::Bytes data) {
  switch (state_) {
    case ClientState::kStartup:
      buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
      handle_startup_bytes();
      return;
    case ClientState::kAuth:
      buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
      handle_auth_bytes();
      return;
    case ClientState::kLoginWait:
    case ClientState::kIdle:
    case ClientState::kWaiting:
    case ClientState::kActive:
      handle_query_bytes(data);
      return;
    case ClientState::kConsole:
      buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
      handle_console_bytes();
      return;
    case ClientState::kReplication:
      handle_replication_bytes(data);
      return;
    case ClientState::kCancelRequest:  // nothing more is read
    case ClientState::kClosed:
      return;
  }
}

void ClientConnection::adopt_config(std::shared_ptr<const config::Config> config) {
  config_ = std::move(config);
  // Always: user_entry_ points into the config, and the old one may go now.
  apply_timeouts();
}

std::optional<config::PoolMode> ClientConnection::pool_mode() const {
  if (pool_ == nullptr) return std::nullopt;
  return pool_->settings().mode;
}

void ClientConnection::finish_at_boundary(const char* sqlstate, std::string message) {
  // A queued request is let run: it is answered, then the client is finished. A client still
  // logging in is let in and through its first transaction: it came to run one.
  // So is one that logged in and has not run a transaction yet (it is about to send one).
  bool logging_in = state_ == ClientState::kStartup || state_ == ClientState::kAuth ||
                    state_ == ClientState::kLoginWait ||
                    (state_ == ClientState::kIdle && !ran_transaction_);
  bool mid_transaction = logging_in || state_ == ClientState::kWaiting ||
                         (state_ == ClientState::kActive && server_ &&
                          (server_->busy() || server_->transaction_status() != 'I' || unsynced_ ||
                           server_->state() != backend::ServerState::kActive));
  if (mid_transaction) {
    finish_ = std::make_unique<Finish>(Finish{sqlstate, std::move(message)});
    return;
  }
  fail(sqlstate, message);
}

void ClientConnection::handle_console_bytes() {
  std::size_t consumed = 0;
  while (state_ == ClientState::kConsole && !console_->blocked()) {
    auto frame = protocol::frame_typed(util::as_bytes(buffer_).subspan(consumed),
                                       protocol::kMaxStartupPacket * 100);
    if (frame.malformed()) {
      fail(ss::kProtocolViolation, frame.error);
      return;
    }
    if (!frame.complete()) break;
    consumed += frame.size;
    bool terminate = false;
    std::string reply = console_->handle(frame.type, frame.body, terminate);
    if (terminate) {
      close("client close request");
      return;
    }
    if (state_ != ClientState::kConsole) return;  // the command closed this very client
    stream_->write(reply);
  }
  if (state_ != ClientState::kConsole) return;
  buffer_.erase(0, consumed);
  // A waiting command (PAUSE, WAIT_CLOSE): read nothing more until it is answered.
  if (console_->blocked()) stream_->stop_reading();
}

void ClientConnection::poll_console() {
  std::string out = console_->poll();
  if (console_->blocked()) return;
  stream_->write(out);
  stream_->start_reading();
  handle_console_bytes();
}

void ClientConnection::enter_idle() {
  state_ = ClientState::kIdle;
  idle_since_ = context_.clock.now();
}

void ClientConnection::handle_query_bytes(util::Bytes data) {
  int ready_owed = 0;
  bool terminate = false;
  std::size_t forward_len = data.size();
  metrics::PoolStats& stats = pool_->stats();
  stats.bytes_received += data.size();
  // Tracked statements are counted by the rewriter, with PgBouncer's meanings.
  bool untracked = pool_->settings().max_prepared_statements == 0;
  bool ok = scanner_.scan(data, [&](char type, util::Bytes) {
    switch (type) {
      case 'Q':
      case 'F':
        ++ready_owed;
        break;
      case 'S':
        ++ready_owed;
        unsynced_ = false;
        break;
      case 'P':
        if (untracked) {
          ++stats.client_parse_count;
          ++stats.server_parse_count;
        }
        unsynced_ = true;
        break;
      case 'B':
        if (untracked) ++stats.bind_count;
        unsynced_ = true;
        break;
      case 'E':
      case 'D':
      case 'C':
      case 'H':
        unsynced_ = true;
        break;
      case 'X':
        terminate = true;
        forward_len = scanner_.message_end() >= 5 ? scanner_.message_end() - 5 : 0;
        return false;
      default:
        break;
    }
    return true;
  });
  if (!ok) {
    fail(ss::kProtocolViolation, "invalid message length or message exceeds max_packet_size");
    return;
  }
  util::Bytes forward = data.first(forward_len);
  // While the server runs the pooler's own statement (parameter sync) the bytes must wait:
  // their results would be swallowed with the statement's.
  bool server_ready = state_ == ClientState::kActive && server_ &&
                      server_->state() == backend::ServerState::kActive;
  if (server_ready && buffer_.empty()) {
    if (!forward.empty()) send_to_server(forward, ready_owed);
    if (server_ && server_->write_backlogged()) stream_->stop_reading();
  } else if (!forward.empty()) {
    buffer_.append(reinterpret_cast<const char*>(forward.data()), forward.size());
    buffered_ready_owed_ += ready_owed;
    // Bounds memory per waiting client; pausing only when needed saves two syscalls per wait.
    if (buffer_.size() >= kMaxQueuedBytes) stream_->stop_reading();
  }
  if (terminate) {
    close("client close request");
    return;
  }
  if (state_ == ClientState::kIdle && !buffer_.empty()) request_server();
}

std::string ClientConnection::application_name() const {
  return std::string(parameters_.get("application_name").value_or(""));
}

util::Duration ClientConnection::waiting_for() const {
  bool waiting = state_ == ClientState::kWaiting || state_ == ClientState::kLoginWait;
  return waiting ? context_.clock.now() - wait_started_ : util::Duration{};
}

void ClientConnection::request_server() {
  if (auto refused = pool_->refusal()) {
    // The server is known to be down (server_login_retry): say so now rather than queue.
    fail(refused->sqlstate.empty() ? ss::kConnectionFailure : refused->sqlstate.c_str(),
         refused->message);
    return;
  }
  if (state_ == ClientState::kIdle) state_ = ClientState::kWaiting;
  wait_started_ = context_.clock.now();
  wait_notified_ = false;
  pool::ServerLease lease = pool_->acquire(*this);
  if (lease) use_server(std::move(lease));
}

void ClientConnection::on_server_granted(pool::ServerLease lease) {
  if (state_ == ClientState::kClosed) return;  // the lease goes back via its destructor
  use_server(std::move(lease));
}

void ClientConnection::use_server(pool::ServerLease lease) {
  server_ = std::move(lease);
  auto now = context_.clock.now();
  metrics::PoolStats& stats = pool_->stats();
  // PgBouncer's meaning: a transaction-mode client that needs a server only to be greeted has
  // not been assigned one yet; its first transaction is its first assignment, and the wait at
  // login counts with that one's.
  if (state_ == ClientState::kLoginWait && pool_->settings().mode != config::PoolMode::kSession) {
    login_wait_ = now - wait_started_;
  } else {
    auto waited_us = static_cast<std::uint64_t>(
        util::duration_to_micros(now - wait_started_ + login_wait_));
    login_wait_ = {};
    ++stats.server_assignment_count;
    stats.wait_time_us += waited_us;
    stats.wait_histogram.observe_us(waited_us);
  }
  if (spdlog::should_log(spdlog::level::debug)) {  // prefix() formats: not per transaction
    spdlog::debug("{} assigned server S-{:#x}", prefix(), server_->id());
  }
  server_->attach(*this);
  idle_since_ = now;
  if (greeted_) state_ = ClientState::kActive;
  std::string sync = server_sync_sql(*server_.get());
  if (sync.empty()) {
    serve_with_server();
    return;
  }
  server_->run_internal(sync, [this](bool ok) {
    if (!ok) {
      // What PostgreSQL said of a value the client asked for, as it says it at login.
      protocol::ErrorFields error = server_->internal_error();
      if (error.sqlstate.empty()) {
        error = {"ERROR", ss::kConnectionFailure, "server parameter sync failed"};
      }
      if (!greeted_) {
        refuse(metrics::Refusal::kProtocolError, error.sqlstate.c_str(), error.message);
      } else {
        fail(error.sqlstate.c_str(), error.message);
      }
      return;
    }
    server_->set_applied_settings(session_settings_);
    server_->set_state(backend::ServerState::kActive);
    serve_with_server();
  });
}

void ClientConnection::serve_with_server() {
  if (!greeted_) {
    // It sees the values as the server spells them (client_encoding=utf-8 shows as UTF8).
    for (const auto& [name, value] : server_->parameters()) {
      if (!backend::canonical_parameter(name, context_.tracked_parameters).empty()) {
        parameters_.set(name, value);
      }
    }
    if (pool_->settings().mode == PoolMode::kSession) {
      // The server's real pid, so pg_backend_pid() and notification pids agree with it.
      context_.clients.take_backend_pid(*this, server_->backend_pid(), cancel_pid_, cancel_key_);
    }
    greet(server_->parameters());
    if (pool_->settings().mode != PoolMode::kSession && buffer_.empty()) {
      release_server();
      stream_->start_reading();
      return;
    }
  }
  state_ = ClientState::kActive;
  flush_pending_to_server();
}

void ClientConnection::flush_pending_to_server() {
  if (!buffer_.empty()) {
    std::string pending = std::move(buffer_);
    buffer_.clear();
    int owed = std::exchange(buffered_ready_owed_, 0);
    send_to_server(util::as_bytes(pending), owed);
    if (!server_) {
      // The rewriter's own answers settled the transaction and the server went back.
      if (state_ != ClientState::kClosed) stream_->start_reading();
      return;
    }
  }
  if (!server_->write_backlogged()) stream_->start_reading();
}

void ClientConnection::send_to_server(util::Bytes data, int ready_owed) {
  if (!server_->statements().tracking()) {
    server_->send(data, ready_owed);
    return;
  }
  send_rewritten(data);
}

std::chrono::system_clock::time_point ClientConnection::connected_wall() const {
  // Not stored per client: the wall clock now, less the connection's age on the steady clock.
  auto age = context_.clock.now() - connected_at_;
  return std::chrono::system_clock::now() -
         std::chrono::duration_cast<std::chrono::system_clock::duration>(age);
}

ClientConnection::StatementTracking::StatementTracking(std::size_t max_packet_size)
    : splitter(max_packet_size, kRewrittenTypes) {}

ClientConnection::StatementTracking& ClientConnection::tracking() {
  if (!tracking_) {
    tracking_ = std::make_unique<StatementTracking>(
        static_cast<std::size_t>(config_->settings.max_packet_size));
  }
  return *tracking_;
}

void ClientConnection::send_rewritten(util::Bytes data) {
  backend::ServerConnection& server = *server_.get();
  StatementTracking& t = tracking();
  protocol::PreparedCounters counters;
  protocol::StatementSession session{t.statements, server.statements(), server.replies(),
                                     counters};
  t.to_server.clear();
  t.to_client.clear();
  int owed = 0;
  // The read-time scan has already refused a malformed length.
  t.splitter.feed(
      data,
      [&](char type, util::Bytes body) {
        std::size_t before = t.to_server.size();
        context_.rewriter->on_client_message(type, body, session, t.to_server, t.to_client);
        // A DEALLOCATE the pooler answers itself owes no ReadyForQuery from the server.
        if (type == 'S' || type == 'F' || (type == 'Q' && t.to_server.size() > before)) ++owed;
      },
      [&](util::Bytes bytes) { t.to_server.append(util::as_chars(bytes)); });
  metrics::PoolStats& stats = pool_->stats();
  stats.client_parse_count += counters.client_parse_count;
  stats.server_parse_count += counters.server_parse_count;
  stats.bind_count += counters.bind_count;
  if (!t.to_server.empty()) server.send(util::as_bytes(t.to_server), owed);
  trim(t.to_server);
  if (t.to_client.empty()) return;
  stream_->write(t.to_client);
  // Answered without the server (a DEALLOCATE alone): the transaction may be over now.
  bool ends_ready = protocol::ends_with_ready_for_query(t.to_client);
  trim(t.to_client);
  if (ends_ready && !server.busy() && server.replies().idle()) {
    transaction_settled(server.replies().transaction_status());
  }
}

void ClientConnection::release_server() {
  if (!server_) return;
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("{} released server S-{:#x}", prefix(), server_->id());
  }
  server_->detach();
  if (scanner_.at_boundary() && !unsynced_) {
    server_.release();
  } else {
    server_.discard();
  }
  enter_idle();
}

void ClientConnection::on_server_bytes(util::Bytes data, char settled) {
  PoolMode mode = pool_->settings().mode;
  if (settled != '\0' && settled != 'I' && mode == PoolMode::kStatement && !unsynced_) {
    // Withhold the ReadyForQuery that would tell the client it is inside a transaction.
    stream_->write(data.first(data.size() - backend::kReadyForQuerySize));
    server_.discard();
    fail(ss::kFeatureNotSupported, "transaction blocks not allowed in statement pooling mode");
    return;
  }
  pool_->stats().bytes_sent += data.size();
  stream_->write(data);
  if (stream_->above_high_watermark() && server_) server_->pause_reading();
  if (settled != '\0') transaction_settled(settled);
}

void ClientConnection::transaction_settled(char status) {
  ran_transaction_ = true;
  if (finish_ && status == 'I' && !unsynced_) {
    auto finish = std::move(*finish_);
    fail(finish.sqlstate, finish.message);
    return;
  }
  PoolMode mode = pool_->settings().mode;
  if (mode == PoolMode::kSession) return;
  if (unsynced_) return;  // the client has sent more of an extended-protocol batch
  if (status != 'I') return;
  release_server();
  if (!buffer_.empty()) request_server();
}

void ClientConnection::on_server_parameter(std::string_view name, std::string_view value) {
  std::string canonical = backend::canonical_parameter(name, context_.tracked_parameters);
  if (!canonical.empty()) parameters_.set(canonical, value);
}

void ClientConnection::on_server_lost(const std::string& reason) {
  bool told = server_->fatal_forwarded();
  server_.forget();
  if (told) {
    // The client already has PostgreSQL's own FATAL, as a direct connection would.
    close("server closed the connection after a FATAL error (" + reason + ")");
    return;
  }
  fail(ss::kConnectionFailure, "server conn crashed? (" + reason + ")");
}

void ClientConnection::on_query_timeout() {
  // The pool has cancelled the query; it takes the server back once it has finished.
  server_.salvage();
  fail(ss::kQueryCanceled, "query_timeout");
}

void ClientConnection::on_server_fast_close(const char* reason) {
  // Mid extended-protocol batch the server is not really between transactions: next tick.
  if (unsynced_ || !buffer_.empty() || !scanner_.at_boundary()) return;
  // The server goes back clean; the pool closes it as marked (RECONNECT, a changed target).
  release_server();
  fail(ss::kAdminShutdown, reason);
}

void ClientConnection::on_server_drained() {
  if (state_ == ClientState::kActive && buffer_.empty()) stream_->start_reading();
}

void ClientConnection::on_drained() {
  if (server_) server_->resume_reading();
  if (replication_link_) replication_link_->resume_reading();
}

void ClientConnection::on_wait_failed(const std::string& sqlstate, const std::string& message) {
  if (state_ == ClientState::kClosed) return;
  if (!greeted_) {
    // Still logging in: no server could be had for the welcome.
    refuse(metrics::Refusal::kServerLoginFailed, sqlstate.c_str(), message);
    return;
  }
  fail(sqlstate.c_str(), message);
}

bool ClientConnection::cancel_current_query(std::function<void()> on_done) {
  if (state_ == ClientState::kReplication) {
    return greeted_ && replication_link_->send_cancel(std::move(on_done));
  }
  // Its own request, running now: anything else would cancel a query that is not its own.
  bool running = state_ == ClientState::kActive && server_ && server_->busy() &&
                 server_->state() == backend::ServerState::kActive;
  if (!running) return false;
  server_->send_cancel(std::move(on_done));
  return true;
}

void ClientConnection::on_disconnect(int status) {
  // A probe that connects and leaves without a byte is not worth a line, as in PgBouncer.
  if (state_ == ClientState::kStartup && buffer_.empty() && status == UV_EOF) {
    close({});
    return;
  }
  if (!stream_->tls_error().empty()) {
    close("TLS failed: " + stream_->tls_error());
    return;
  }
  close(status == UV_EOF ? "client unexpected eof"
                         : std::string("client connection failed: ") + uv_strerror(status));
}

void ClientConnection::refuse(metrics::Refusal reason, const char* sqlstate,
                              const std::string& message) {
  if (state_ == ClientState::kClosed) return;
  context_.pools.events().count(reason);
  fail(sqlstate, message);
}

void ClientConnection::fail(const char* sqlstate, const std::string& message) {
  if (state_ == ClientState::kClosed) return;
  context_.pools.events().count_error(sqlstate);
  std::string out;
  protocol::append_error(out, protocol::ErrorSeverity::kFatal, sqlstate, message);
  stream_->write(out);
  // One line: the close line says what the client was told (a warning while log_pooler_errors
  // is on, as PgBouncer's "pooler error" line is); without log_disconnections, PgBouncer's
  // pooler error line alone.
  const auto& settings = config_->settings;
  if (settings.log_disconnections) {
    log_closing(message, settings.log_pooler_errors);
  } else if (settings.log_pooler_errors) {
    spdlog::warn("{} pooler error: {}", prefix(), message);
  }
  close({});
}

void ClientConnection::log_closing(const std::string& reason, bool warning) const {
  auto age = util::duration_to_seconds(context_.clock.now() - connected_at_);
  spdlog::log(warning ? spdlog::level::warn : spdlog::level::info,
              "{} closing because: {} (age={:.0f}s)", prefix(), reason, age);
}

void ClientConnection::close(const std::string& reason) {
  if (state_ == ClientState::kClosed) return;
  state_ = ClientState::kClosed;
  if (pool_ != nullptr) {
    pool_->cancel_wait(*this);
    pool_->detach_client();
  }
  if (server_) {
    server_->detach();
    bool whole_messages = scanner_.at_boundary() && !unsynced_;
    if (server_->clean() && whole_messages) {
      server_.release();
    } else if (whole_messages && server_->state() == backend::ServerState::kActive) {
      // Gone mid-request or mid-transaction: stop what it left running on PostgreSQL, roll
      // back, and reuse the server (closed if not idle again within cancel_wait_timeout).
      if (server_->busy()) ++context_.pools.events().requests_abandoned;
      server_->abandon_request();
      server_.salvage();
    } else {
      // Half a message, or an extended-protocol batch without Sync that a Sync would commit:
      // only closing the connection makes PostgreSQL roll back.
      server_.discard();
    }
  }
  if (replication_link_) replication_link_->close();
  if (in_client_limits_) context_.clients.limits().leave(database_, user_);
  stream_->close_after_flush();
  if (!reason.empty() && config_->settings.log_disconnections) {
    log_closing(reason, false);
  }
  context_.clients.retire(*this);
}

}  // namespace pooler::frontend
