// ClientConnection's login: the startup packet (or a CancelRequest), authentication, the
// checks that come after it, and the greeting; the admin console's login too.
#include "pooler/frontend/client_connection.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "pooler/frontend/client_registry.hpp"
#include "pooler/pool/server_target.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"
#include "pooler/util/secure.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;

namespace {

// Startup parameters that are not session settings to track or refuse.
bool contains(const std::vector<std::string>& list, std::string_view value) {
  for (const auto& item : list) {
    if (item == value) return true;
  }
  return false;
}

}  // namespace

void ClientConnection::handle_startup_bytes() {
  // 0x16 opens a TLS handshake record: a ClientHello with no SSLRequest before it (PostgreSQL
  // 17's sslnegotiation=direct). No startup packet can start so: its length would exceed 350 MB.
  if (!stream_->tls() && !buffer_.empty() && buffer_[0] == 0x16 && login_->tls_context) {
    start_tls(true);
    return;
  }
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
    if (std::holds_alternative<protocol::SslRequest>(packet)) {
      if (stream_->tls()) {
        fail(ss::kProtocolViolation, "SSL request received over an encrypted connection");
        return;
      }
      if (start_tls(false)) return;
      // No TLS offered: 'N' tells the client to go on in plain text.
      stream_->write(std::string_view("N"));
      continue;
    }
    if (std::holds_alternative<protocol::GssEncRequest>(packet)) {
      // No GSS encryption: 'N' tells the client to go on in plain text (or TLS).
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

bool ClientConnection::start_tls(bool direct) {
  if (!login_->tls_context) return false;
  if (direct) {
    std::string hello = std::move(buffer_);
    buffer_.clear();
    login_->direct_tls = true;
    stream_->start_tls(login_->tls_context, {}, util::as_bytes(hello));
    return true;
  }
  // Anything sent behind the SSLRequest was not encrypted, yet would be read as if it had
  // come through TLS: refused, as PostgreSQL does since CVE-2021-23214.
  if (!buffer_.empty()) {
    fail(ss::kProtocolViolation, "received unencrypted data after SSL request");
    return true;
  }
  stream_->write(std::string_view("S"));
  stream_->start_tls(login_->tls_context);
  return true;
}

void ClientConnection::on_tls_ready() {
  // PostgreSQL 17 takes a direct handshake only with ALPN "postgresql", so that a TLS
  // connection meant for another protocol cannot be replayed here.
  if (login_->direct_tls && stream_->tls_alpn().empty()) {
    fail(ss::kProtocolViolation,
         "received direct SSL connection request without ALPN protocol negotiation extension");
  }
}

void ClientConnection::handle_cancel_request(const protocol::CancelRequest& request) {
  // Like PostgreSQL, answer only by closing, and only once the backend has been signalled:
  // libpq's PQcancel waits for that close, so the caller knows the cancel has landed.
  state_ = ClientState::kCancelRequest;
  stream_->stop_reading();
  login_->liveness = std::make_shared<char>(0);
  std::weak_ptr<void> alive = login_->liveness;
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
    std::string tls = stream_->tls() ? stream_->tls_description() : "no";
    spdlog::info("{} login attempt: db={} user={} tls={}", prefix(), database_, user_, tls);
  }
  if (user_.empty()) {
    refuse(metrics::Refusal::kProtocolError, ss::kInvalidAuthorization, "no username supplied");
    return;
  }
  // PgBouncer's rule: require and verify-* refuse plain text over TCP; the unix socket is
  // as private as the machine.
  const std::string& sslmode = settings.client_tls_sslmode;
  bool tls_required = sslmode == "require" || sslmode == "verify-ca" || sslmode == "verify-full";
  if (tls_required && !stream_->tls() && !peer_.is_unix) {
    refuse(metrics::Refusal::kNotAllowed, ss::kInvalidAuthorization, "SSL required");
    return;
  }
  if (context_.clients.size() > static_cast<std::size_t>(settings.max_client_conn)) {
    refuse(metrics::Refusal::kMaxClientConn, ss::kTooManyConnections,
           "no more connections allowed (max_client_conn)");
    return;
  }
  if (!join_client_limits()) return;
  if (!take_startup_parameters(message)) return;
  if (settings.application_name_add_host) {
    // As PgBouncer: the client's address rides along in application_name for the server's logs.
    std::string where = peer_.is_unix ? "unix(" + std::to_string(peer_.port) + ")"
                                      : peer_.addr + ":" + std::to_string(peer_.port);
    parameters_.set("application_name",
                    std::string(parameters_.get("application_name").value_or("")) + " - " + where);
  }
  console_requested_ = database_ == "pgbouncer" || database_ == "pooler";
  if (context_.refusing_logins && !console_requested_) {
    refuse(metrics::Refusal::kNotAllowed, ss::kCannotConnectNow, "pooler is shutting down");
    return;
  }
  if (console_requested_ && replication_ != ReplicationMode::kNone) {
    refuse(metrics::Refusal::kNotAllowed, ss::kFeatureNotSupported,
           "replication connections to the admin console are not supported");
    return;
  }
  // PgBouncer's rule: user "pgbouncer" over the unix socket from the pooler's own uid needs no
  // password.
  if (console_requested_ && user_ == "pgbouncer" && peer_.is_unix &&
      peer_.uid == static_cast<int>(getuid())) {
    console_login();
    return;
  }
  // Whether the database exists is told only after authentication, so the answer cannot be
  // used to probe for names.
  std::optional<config::AuthType> auth_type = run_login_method();
  if (!auth_type) return;
  login_->auth_type = *auth_type;
  begin_authentication();
}

void ClientConnection::authenticate_with(const config::UserSecret* secret) {
  const auto& settings = config_->settings;
  login_->authenticator = std::make_unique<Authenticator>(login_->auth_type, user_, secret,
                                                   settings.scram_iterations,
                                                   context_.clients.mock_seed(),
                                                   stream_->tls_server_end_point());
  state_ = ClientState::kAuth;
  if (login_->authenticator->refused_without_password()) {
    no_such_user();
    return;
  }
  if (!login_->authenticator->needs_password()) {
    password_accepted();
    return;
  }
  stream_->write(login_->authenticator->start());
}

void ClientConnection::certificate_login(const std::string& map) {
  // PgBouncer's log reasons; the client hears only that the certificate did not do.
  const char* reason = nullptr;
  if (!stream_->tls()) {
    reason = "TLS connection required";
  } else if (!stream_->tls_peer_certificate()) {
    reason = "TLS client certificate required";
  } else if (map.empty() ? !util::constant_time_equal(stream_->tls_peer_common_name(), user_)
                         : !ident_allows(map, stream_->tls_peer_common_name())) {
    reason = "TLS certificate name mismatch";
  }
  if (reason != nullptr) {
    spdlog::info("{} {}", prefix(), reason);
    refuse(metrics::Refusal::kAuthFailed, ss::kInvalidAuthorization,
           "certificate authentication failed");
    return;
  }
  password_accepted();
}

void ClientConnection::no_such_user() {
  // Trust lets every known name in without a password, so naming the unknown one gives nothing
  // away; 28000 is PostgreSQL's SQLSTATE for a role that does not exist.
  refuse(metrics::Refusal::kAuthFailed, ss::kInvalidAuthorization, "no such user: " + user_);
}

void ClientConnection::auth_failed(const std::string& detail) {
  spdlog::info("{} {}: {}", prefix(), login_->authenticator->failure_message(), detail);
  refuse(metrics::Refusal::kAuthFailed, ss::kInvalidPassword,
         login_->authenticator->failure_message());
}

void ClientConnection::password_accepted(std::string out) {
  if (console_requested_) {
    console_login(std::move(out));
  } else {
    authenticated(std::move(out));
  }
}

void ClientConnection::handle_auth_bytes() {
  // Nothing is read while a secret is being looked up (the client has not been asked yet, or
  // its answer is being checked against a fresh secret).
  while (state_ == ClientState::kAuth && login_->authenticator && !login_->lookup) {
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
    auto outcome = login_->authenticator->handle(frame.body, reply);
    buffer_.erase(0, frame.size);
    if (outcome == Authenticator::Outcome::kFailed) {
      if (!look_up_again()) auth_failed(login_->authenticator->failure_detail());
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
  if (config_->settings.auth_type == config::AuthType::kAny && database.user.empty()) {
    // PgBouncer's answer: auth_type=any ignores the client's name, so only a forced user can
    // say whom to log in as (the config loader warns about such databases).
    refuse(metrics::Refusal::kNotAllowed, ss::kProtocolViolation, "bouncer config error");
    return;
  }
  std::string server_user = database.user.empty() ? user_ : database.user;
  backend::ServerTarget target = pool::server_target(*config_, database, server_user);
  std::string learned_secret;
  if (target.secret.empty() && server_user == user_ && login_->looked_up &&
      !protocol::parse_scram_verifier(login_->looked_up->secret)) {
    // auth_query's md5 hash (or password) logs in as well
    learned_secret = login_->looked_up->secret;
    target.secret = learned_secret;
  }
  if (target.secret.empty() && server_user == user_ && login_->authenticator) {
    // No password to log in with: a SCRAM verifier, usable only with the client's own proof
    // (the authenticator has keys only after a SCRAM login against a verifier).
    target.scram_client_key = login_->authenticator->scram_client_key();
    target.scram_server_key = login_->authenticator->scram_server_key();
  }
  login_->authenticator.reset();
  login_->looked_up.reset();
  apply_timeouts();
  if (replication_ != ReplicationMode::kNone) {
    start_replication(std::move(target), std::move(out), std::move(early));
    return;
  }
  pool_ = &context_.pools.pool_for(*config_, database, server_user, target);
  if (server_user == user_) {
    pool_->learn_credentials(learned_secret, target.scram_client_key, target.scram_server_key);
  }
  pool_->attach_client();
  if (int queue_limit = config_->settings.max_wait_queue; pool_->refuses_new_clients(queue_limit)) {
    refuse(metrics::Refusal::kSaturated, ss::kTooManyConnections,
           "pool " + database_ + "/" + server_user + " is saturated (PoolSaturated) with " +
               std::to_string(pool_->counts().waiting) + " clients waiting, over max_wait_queue " +
               std::to_string(queue_limit) + "; try again later");
    return;
  }
  ++pool_->stats().client_login_count;
  context_.clients.register_cancel_key(*this, cancel_pid_, cancel_key_);

  const auto& welcome = pool_->welcome_parameters();
  // Session mode greets with its server's own pid, so it gets the server at login.
  bool session = pool_->settings().mode == config::PoolMode::kSession;
  if (welcome && !session && greets_without_server(*welcome)) {
    greet(*welcome, std::move(out));
  } else {
    // Get a server, bring it to what the client asked for, greet with its parameters.
    stream_->write(out);
    state_ = ClientState::kLoginWait;
    request_server();
  }
  if (!early.empty() && state_ != ClientState::kClosed) handle_query_bytes(util::as_bytes(early));
}


bool ClientConnection::join_client_limits() {
  const auto& settings = config_->settings;
  const auto database = config_->find_database(database_);
  const config::UserEntry* user = config_->find_user(user_);
  int database_limit = database && database->max_db_client_connections
                           ? *database->max_db_client_connections
                           : settings.max_db_client_connections;
  int user_limit = user != nullptr && user->max_user_client_connections
                       ? *user->max_user_client_connections
                       : settings.max_user_client_connections;
  // As PgBouncer: an admin user reaching the console is never turned away by these.
  bool console = database_ == "pgbouncer" || database_ == "pooler";
  bool exempt = console && contains(settings.admin_users, user_);
  ClientLimitExceeded exceeded =
      context_.clients.limits().join(database_, user_, database_limit, user_limit, exempt);
  in_client_limits_ = true;
  if (exceeded == ClientLimitExceeded::kNone) return true;
  refuse(metrics::Refusal::kClientLimit, ss::kTooManyConnections,
         client_limit_message(exceeded));
  return false;
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
  login_->authenticator.reset();
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


void ClientConnection::greet(const backend::ParameterSet& server_parameters, std::string out) {
  backend::ParameterSet shown = server_parameters;
  for (const auto& [name, value] : parameters_) shown.set(name, value);
  // The client's view starts as the server's defaults plus what it asked for.
  for (const auto& [name, value] : shown) {
    if (!backend::canonical_parameter(name, context_.tracked_parameters).empty()) {
      parameters_.set(name, value);
    }
  }
  send_welcome(shown, std::move(out));
  enter_idle();
}

void ClientConnection::send_welcome(const backend::ParameterSet& shown, std::string out) {
  for (const auto& [name, value] : shown) {
    protocol::append_parameter_status(out, name, value);
  }
  protocol::append_backend_key_data(out, cancel_pid_, cancel_key_);
  protocol::append_ready_for_query(out, 'I');
  stream_->write(out);
  context_.parameter_interner.share(parameters_);
  greeted_ = true;
  ++context_.pools.events().clients_accepted;
}


}  // namespace pooler::frontend
