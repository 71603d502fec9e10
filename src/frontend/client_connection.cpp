// ClientConnection: login, server hand-out per pool mode, and the client half of forwarding.
#include "pooler/frontend/client_connection.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "pooler/frontend/client_registry.hpp"
#include "pooler/pool/server_target.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;
using config::PoolMode;

namespace {

// Input a client may queue while it has no server before the pooler stops reading from it.
constexpr std::size_t kMaxQueuedBytes = 64 * 1024;

// Startup parameters that are not session settings to track or refuse.
bool is_connection_parameter(std::string_view name) {
  return name == "user" || name == "database";
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  for (const auto& item : list) {
    if (item == value) return true;
  }
  return false;
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
      scanner_(static_cast<std::size_t>(config_->settings.max_packet_size), "") {
  login_timeout_ = util::seconds_to_duration(config_->settings.client_login_timeout);
}

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
    case ClientState::kCancelRequest:  // nothing more is read
    case ClientState::kClosed:
      return;
  }
}

void ClientConnection::handle_startup_bytes() {
  while (state_ == ClientState::kStartup) {
    // node's pg, told to end() before its socket connected, sends Terminate ahead of the
    // startup packet: a client saying goodbye, which PostgreSQL closes without a word.
    static constexpr std::string_view kTerminate{"X\0\0\0\4", 5};
    if (buffer_.size() >= kTerminate.size() && buffer_.compare(0, 5, kTerminate) == 0) {
      close("client close request");
      return;
    }
    auto frame = protocol::frame_startup(util::as_bytes(buffer_));
    if (frame.malformed()) {
      fail(ss::kProtocolViolation, frame.error);
      return;
    }
    if (!frame.complete()) return;
    auto packet = protocol::parse_startup(frame.body);
    buffer_.erase(0, frame.size);
    if (std::holds_alternative<protocol::SslRequest>(packet) ||
        std::holds_alternative<protocol::GssEncRequest>(packet)) {
      // No TLS or GSS encryption yet: 'N' tells the client to go on in plain text.
      stream_->write(std::string_view("N"));
      continue;
    }
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&packet)) {
      handle_cancel_request(*cancel);
      return;
    }
    if (auto* bad = std::get_if<protocol::BadStartup>(&packet)) {
      fail(bad->sqlstate.c_str(), bad->message);
      return;
    }
    handle_startup_message(std::get<protocol::StartupMessage>(packet));
  }
  // What followed the startup packet in the same read is read as the messages it is, as
  // PostgreSQL does.
  if (state_ == ClientState::kAuth && !buffer_.empty()) handle_auth_bytes();
}

void ClientConnection::handle_cancel_request(const protocol::CancelRequest& request) {
  // Like PostgreSQL, answer only by closing, and only once the backend has been signalled:
  // libpq's PQcancel waits for that close, so the caller knows the cancel has landed.
  state_ = ClientState::kCancelRequest;
  stream_->stop_reading();
  liveness_ = std::make_shared<char>(0);
  std::weak_ptr<void> alive = liveness_;
  const char* refused = context_.clients.cancel(request.pid, request.key, [this, alive] {
    if (!alive.expired()) close("successfully sent cancel request");
  });
  if (refused != nullptr) close(refused);
}

void ClientConnection::handle_startup_message(const protocol::StartupMessage& message) {
  const auto& settings = config_->settings;
  if (message.requested_minor > 0 || !message.protocol_options.empty()) {
    std::string out;
    protocol::append_negotiate_protocol_version(out, 0, message.protocol_options);
    stream_->write(out);
  }
  if (const std::string* user = message.find("user")) user_ = *user;
  const std::string* database = message.find("database");
  database_ = database != nullptr && !database->empty() ? *database : user_;
  if (settings.log_connections) {
    spdlog::info("{} login attempt: db={} user={} tls=no", prefix(), database_, user_);
  }
  if (user_.empty()) {
    refuse(metrics::Refusal::kProtocolError, ss::kInvalidAuthorization, "no username supplied");
    return;
  }
  if (context_.clients.size() > static_cast<std::size_t>(settings.max_client_conn)) {
    refuse(metrics::Refusal::kMaxClientConn, ss::kTooManyConnections,
           "no more connections allowed (max_client_conn)");
    return;
  }
  tracked_ = backend::tracked_parameters(settings.track_extra_parameters);
  for (const auto& [name, value] : message.parameters) {
    if (is_connection_parameter(name)) continue;
    std::string canonical = backend::canonical_parameter(name, tracked_);
    if (!canonical.empty()) {
      parameters_.set(canonical, value);
    } else if (!contains(settings.ignore_startup_parameters, name)) {
      refuse(metrics::Refusal::kProtocolError, ss::kProtocolViolation,
             "unsupported startup parameter: " + name);
      return;
    }
  }
  if (settings.application_name_add_host) {
    // As PgBouncer: the client's address rides along in application_name for the server's logs.
    const std::string* name = parameters_.get("application_name");
    std::string where = peer_.is_unix ? "unix(" + std::to_string(peer_.port) + ")"
                                      : peer_.addr + ":" + std::to_string(peer_.port);
    parameters_.set("application_name", (name ? *name : std::string()) + " - " + where);
  }
  console_requested_ = database_ == "pgbouncer" || database_ == "pooler";
  // PgBouncer's rule: user "pgbouncer" over the unix socket from the pooler's own uid needs no
  // password.
  if (console_requested_ && user_ == "pgbouncer" && peer_.is_unix &&
      peer_.uid == static_cast<int>(getuid())) {
    console_login();
    return;
  }
  // Whether the database exists is told only after authentication, so the answer cannot be
  // used to probe for names.
  authenticator_ = std::make_unique<Authenticator>(settings.auth_type, user_,
                                                   config_->find_secret(user_),
                                                   settings.scram_iterations,
                                                   context_.clients.mock_seed());
  state_ = ClientState::kAuth;
  if (authenticator_->refused_without_password()) {
    auth_failed("user not found in auth_file");
    return;
  }
  if (!authenticator_->needs_password()) {
    password_accepted();
    return;
  }
  stream_->write(authenticator_->start());
}

void ClientConnection::auth_failed(const std::string& detail) {
  spdlog::info("{} {}: {}", prefix(), authenticator_->failure_message(), detail);
  refuse(metrics::Refusal::kAuthFailed, ss::kInvalidPassword, authenticator_->failure_message());
}

void ClientConnection::password_accepted(std::string out) {
  if (console_requested_) {
    console_login(std::move(out));
  } else {
    authenticated(std::move(out));
  }
}

void ClientConnection::handle_auth_bytes() {
  while (state_ == ClientState::kAuth) {
    auto frame = protocol::frame_typed(util::as_bytes(buffer_), protocol::kMaxStartupPacket);
    if (frame.malformed()) {
      fail(ss::kProtocolViolation, frame.error);
      return;
    }
    if (!frame.complete()) return;
    if (frame.type == 'X') {
      // Gave up before answering (node's pg sends Terminate right after the startup packet).
      close("client close request");
      return;
    }
    if (frame.type != 'p') {
      fail(ss::kProtocolViolation, "expected a password message");
      return;
    }
    std::string reply;
    auto outcome = authenticator_->handle(frame.body, reply);
    buffer_.erase(0, frame.size);
    if (outcome == Authenticator::Outcome::kFailed) {
      auth_failed(authenticator_->failure_detail());
      return;
    }
    if (outcome != Authenticator::Outcome::kOk) {
      stream_->write(reply);
    } else {
      password_accepted(std::move(reply));
    }
  }
}

void ClientConnection::authenticated(std::string out) {
  // Whatever followed the last auth message is already query traffic.
  std::string early = std::move(buffer_);
  buffer_.clear();
  protocol::append_auth_ok(out);

  auto found = config_->find_database(database_);
  if (!found) {
    refuse(metrics::Refusal::kUnknownDatabase, ss::kInvalidCatalogName,
           "no such database: " + database_);
    return;
  }
  if (context_.pools.disabled(database_)) {
    refuse(metrics::Refusal::kDatabaseDisabled, ss::kObjectNotInPrerequisiteState,
           "database \"" + database_ + "\" is disabled");
    return;
  }
  const config::DatabaseEntry& database = *found;
  std::string server_user = database.user.empty() ? user_ : database.user;
  backend::ServerTarget target = pool::server_target(*config_, database, server_user);
  if (target.secret.empty() && server_user == user_ && authenticator_) {
    // No password to log in with: a SCRAM verifier, usable only with the client's own proof
    // (the authenticator has keys only after a SCRAM login against a verifier).
    target.scram_client_key = authenticator_->scram_client_key();
    target.scram_server_key = authenticator_->scram_server_key();
  }
  authenticator_.reset();
  apply_timeouts();
  pool_ = &context_.pools.pool_for(*config_, database, server_user, target);
  if (int queue_limit = config_->settings.max_wait_queue; pool_->refuses_new_clients(queue_limit)) {
    refuse(metrics::Refusal::kSaturated, ss::kTooManyConnections,
           "pool " + database_ + "/" + server_user + " is saturated (PoolSaturated) with " +
               std::to_string(pool_->counts().waiting) + " clients waiting, over max_wait_queue " +
               std::to_string(queue_limit) + "; try again later");
    return;
  }
  ++pool_->stats().client_login_count;
  context_.clients.register_cancel_key(*this, cancel_pid_, cancel_key_);

  if (const auto& welcome = pool_->welcome_parameters()) {
    greet(*welcome, std::move(out));
  } else {
    // No server of this pool has logged in yet: get one, greet with its parameters.
    stream_->write(out);
    state_ = ClientState::kLoginWait;
    request_server();
  }
  if (!early.empty() && state_ != ClientState::kClosed) handle_query_bytes(util::as_bytes(early));
}

void ClientConnection::apply_timeouts() {
  const auto& settings = config_->settings;
  const config::UserEntry* user_entry = config_->find_user(user_);
  auto pick = [&](double global, const std::optional<double>& per_user) {
    return util::seconds_to_duration(per_user ? *per_user : global);
  };
  idle_timeout_ = pick(settings.client_idle_timeout,
                       user_entry ? user_entry->client_idle_timeout : std::nullopt);
  idle_transaction_timeout_ =
      pick(settings.idle_transaction_timeout,
           user_entry ? user_entry->idle_transaction_timeout : std::nullopt);
}

void ClientConnection::adopt_config(std::shared_ptr<const config::Config> config) {
  config_ = std::move(config);
  if (state_ != ClientState::kStartup && state_ != ClientState::kAuth) apply_timeouts();
}

std::optional<config::PoolMode> ClientConnection::pool_mode() const {
  if (pool_ == nullptr) return std::nullopt;
  return pool_->settings().mode;
}

void ClientConnection::finish_at_boundary(const char* sqlstate, std::string message) {
  // A queued request is let run: it is answered, then the client is finished. A client still
  // logging in is let in and through its first transaction: it came to run one.
  bool logging_in = state_ == ClientState::kStartup || state_ == ClientState::kAuth ||
                    state_ == ClientState::kLoginWait;
  bool mid_transaction = logging_in || state_ == ClientState::kWaiting ||
                         (state_ == ClientState::kActive && server_ &&
                          (server_->busy() || server_->transaction_status() != 'I' || unsynced_ ||
                           server_->state() != backend::ServerState::kActive));
  if (mid_transaction) {
    finish_ = Finish{sqlstate, std::move(message)};
    return;
  }
  fail(sqlstate, message);
}

void ClientConnection::console_login(std::string out) {
  const auto& settings = config_->settings;
  auto listed = [this](const std::vector<std::string>& users) { return contains(users, user_); };
  bool own_peer = user_ == "pgbouncer" && peer_.is_unix && peer_.uid == static_cast<int>(getuid());
  ConsoleRole role;
  if (own_peer || listed(settings.admin_users)) {
    role = ConsoleRole::kAdmin;
  } else if (listed(settings.stats_users)) {
    role = ConsoleRole::kStats;
  } else {
    refuse(metrics::Refusal::kNotAllowed, ss::kInvalidAuthorization, "not allowed");
    return;
  }
  if (context_.console == nullptr) {
    fail(ss::kCannotConnectNow, "the admin console is not available");
    return;
  }
  authenticator_.reset();
  std::string early = std::move(buffer_);
  buffer_.clear();
  console_ = std::make_unique<ConsoleSession>(*context_.console, role);
  // The values PgBouncer's console reports, so clients configure themselves the same way.
  protocol::append_auth_ok(out);
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"server_version", context_.console->server_version()},
           {"client_encoding", "UTF8"},
           {"DateStyle", "ISO"},
           {"TimeZone", "GMT"},
           {"standard_conforming_strings", "on"},
           {"integer_datetimes", "on"},
           {"default_transaction_isolation", "read committed"}}) {
    protocol::append_parameter_status(out, name, value);
  }
  context_.clients.register_cancel_key(*this, cancel_pid_, cancel_key_);
  protocol::append_backend_key_data(out, cancel_pid_, cancel_key_);
  protocol::append_ready_for_query(out, 'I');
  stream_->write(out);
  // The console keeps reading through a SUSPEND, so the RESUME can arrive.
  stream_->exempt_from_suspension();
  greeted_ = true;
  ++context_.pools.events().clients_accepted;
  state_ = ClientState::kConsole;
  if (!early.empty()) {
    buffer_ = std::move(early);
    handle_console_bytes();
  }
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

void ClientConnection::greet(const backend::ParameterSet& server_parameters, std::string out) {
  backend::ParameterSet shown = server_parameters;
  for (const auto& [name, value] : parameters_.entries()) shown.set(name, value);
  // The client's view starts as the server's defaults plus what it asked for.
  for (const auto& [name, value] : shown.entries()) {
    if (!backend::canonical_parameter(name, tracked_).empty()) parameters_.set(name, value);
  }
  for (const auto& [name, value] : shown.entries()) {
    protocol::append_parameter_status(out, name, value);
  }
  protocol::append_backend_key_data(out, cancel_pid_, cancel_key_);
  protocol::append_ready_for_query(out, 'I');
  stream_->write(out);
  greeted_ = true;
  ++context_.pools.events().clients_accepted;
  enter_idle();
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
        // Every Parse goes to the server: no prepared statements are kept per client yet.
        ++stats.client_parse_count;
        ++stats.server_parse_count;
        unsynced_ = true;
        break;
      case 'B':
        ++stats.bind_count;
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
    if (!forward.empty()) server_->send(forward, ready_owed);
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
  const std::string* name = parameters_.get("application_name");
  return name != nullptr ? *name : std::string();
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
  auto waited_us = static_cast<std::uint64_t>(util::duration_to_micros(now - wait_started_));
  ++stats.server_assignment_count;
  stats.wait_time_us += waited_us;
  stats.wait_histogram.observe_us(waited_us);
  spdlog::debug("{} assigned server S-{:#x}", prefix(), server_->id());
  server_->attach(*this);
  idle_since_ = now;
  if (!greeted_) {
    greet(server_->parameters());
    if (pool_->settings().mode != PoolMode::kSession && buffer_.empty()) {
      release_server();
      stream_->start_reading();
      return;
    }
  }
  state_ = ClientState::kActive;
  std::string sync = backend::sync_statements(parameters_, server_->parameters(), tracked_);
  if (sync.empty()) {
    flush_pending_to_server();
    return;
  }
  server_->run_internal(sync, [this](bool ok) {
    if (!ok) {
      fail(ss::kConnectionFailure, "server parameter sync failed");
      return;
    }
    server_->set_state(backend::ServerState::kActive);
    flush_pending_to_server();
  });
}

void ClientConnection::flush_pending_to_server() {
  if (!buffer_.empty()) {
    std::string pending = std::move(buffer_);
    buffer_.clear();
    int owed = std::exchange(buffered_ready_owed_, 0);
    server_->send(util::as_bytes(pending), owed);
  }
  if (!server_->write_backlogged()) stream_->start_reading();
}

void ClientConnection::release_server() {
  if (!server_) return;
  spdlog::debug("{} released server S-{:#x}", prefix(), server_->id());
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
  std::string canonical = backend::canonical_parameter(name, tracked_);
  if (!canonical.empty()) parameters_.set(canonical, value);
}

void ClientConnection::on_server_lost(const std::string& reason) {
  server_.forget();
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

void ClientConnection::check_timeouts(util::TimePoint now) {
  auto expired = [now](util::TimePoint since, util::Duration limit) {
    return limit > util::Duration{} && now - since >= limit;
  };
  switch (state_) {
    case ClientState::kStartup:
    case ClientState::kAuth:
      if (expired(connected_at_, login_timeout_)) {
        context_.pools.events().count(metrics::Timeout::kClientLoginTimeout);
        refuse(metrics::Refusal::kLoginTimeout, ss::kProtocolViolation,
               "client_login_timeout (server down or wrong password?)");
      }
      return;
    case ClientState::kIdle:
      if (expired(idle_since_, idle_timeout_)) idle_timed_out();
      return;
    case ClientState::kActive: {
      if (!server_ || server_->busy() || server_->state() != backend::ServerState::kActive) return;
      util::TimePoint since = std::max(idle_since_, server_->last_ready_at());
      if (server_->transaction_status() == 'I') {
        if (expired(since, idle_timeout_)) idle_timed_out();
      } else if (expired(since, idle_transaction_timeout_)) {
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
    case ClientState::kLoginWait:
    case ClientState::kWaiting:
    case ClientState::kCancelRequest:  // its cancel's own timeout ends it
    case ClientState::kClosed:
      return;
  }
}

void ClientConnection::on_server_drained() {
  if (state_ == ClientState::kActive && buffer_.empty()) stream_->start_reading();
}

void ClientConnection::on_drained() {
  if (server_) server_->resume_reading();
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
  close(status == UV_EOF ? "client unexpected eof"
                         : std::string("client connection failed: ") + uv_strerror(status));
}

void ClientConnection::refuse(metrics::Refusal reason, const char* sqlstate,
                              const std::string& message) {
  if (state_ == ClientState::kClosed) return;
  context_.pools.events().count(reason);
  fail(sqlstate, message);
}

void ClientConnection::idle_timed_out() {
  context_.pools.events().count(metrics::Timeout::kClientIdleTimeout);
  fail(ss::kProtocolViolation, "client_idle_timeout");
}

void ClientConnection::fail(const char* sqlstate, const std::string& message) {
  if (state_ == ClientState::kClosed) return;
  context_.pools.events().count_error(sqlstate);
  if (config_->settings.log_pooler_errors) {
    spdlog::warn("{} pooler error: {}", prefix(), message);
  }
  std::string out;
  protocol::append_error(out, protocol::ErrorSeverity::kFatal, sqlstate, message);
  stream_->write(out);
  close(message);
}

void ClientConnection::close(const std::string& reason) {
  if (state_ == ClientState::kClosed) return;
  state_ = ClientState::kClosed;
  if (pool_ != nullptr) pool_->cancel_wait(*this);
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
  stream_->close_after_flush();
  if (!reason.empty() && config_->settings.log_disconnections) {
    auto age = util::duration_to_seconds(context_.clock.now() - connected_at_);
    spdlog::info("{} closing because: {} (age={:.0f}s)", prefix(), reason, age);
  }
  context_.clients.retire(*this);
}

}  // namespace pooler::frontend
