// ClientConnection: one client from its first byte to its last. Reads the startup packet,
// authenticates, greets, then asks the pool for a server whenever it has work and forwards bytes
// both ways, returning the server when the pool mode says the transaction or statement is over.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pooler/backend/parameter_set.hpp"
#include "pooler/backend/server_connection.hpp"
#include "pooler/frontend/authenticator.hpp"
#include "pooler/frontend/console_session.hpp"
#include "pooler/frontend/frontend_context.hpp"
#include "pooler/frontend/replication_link.hpp"
#include "pooler/frontend/secret_lookup.hpp"
#include "pooler/net/stream.hpp"
#include "pooler/pool/pool.hpp"
#include "pooler/protocol/message_scanner.hpp"
#include "pooler/protocol/message_splitter.hpp"
#include "pooler/protocol/prepared_statements.hpp"
#include "pooler/protocol/startup.hpp"

namespace pooler::frontend {

enum class ClientState {
  kStartup,    // waiting for the startup packet
  kAuth,       // password exchange
  kLoginWait,  // authenticated, waiting for a server to learn the parameters to greet with
  kIdle,       // logged in, holds no server
  kWaiting,    // has work queued, waiting for a server
  kActive,     // holds a server
  kConsole,    // logged in to the admin console
  kReplication,  // a replication connection: paired with a server of its own (replication_link)
  kCancelRequest,  // sent a CancelRequest: open until PostgreSQL has dealt with it
  kClosed,
};

class ClientConnection final : public net::StreamHandler,
                               public backend::ServerPeer,
                               public pool::Waiter,
                               public ReplicationClient {
 public:
  ClientConnection(FrontendContext& context, std::unique_ptr<net::Stream> stream, std::uint64_t id);
  ~ClientConnection() override;

  void start();
  // Refuses the client: FATAL ErrorResponse, close after flush, one log line.
  void fail(const char* sqlstate, const std::string& message);
  // A CancelRequest named this client: forwarded only while the client's own request runs on
  // the server it holds. `on_done` runs once PostgreSQL has dealt with it. False if not sent.
  bool cancel_current_query(std::function<void()> on_done);
  // Ends the client at its next transaction boundary with a FATAL `sqlstate`/`message`: now if
  // it is between transactions, else after the ReadyForQuery that closes its transaction. For
  // removed databases and shutdown drains: no transaction is cut short.
  void finish_at_boundary(const char* sqlstate, std::string message);
  // A reload: the client's timeouts follow the new config.
  void adopt_config(std::shared_ptr<const config::Config> config);
  // The pool mode the client runs in; nullopt before it has a pool (or on the console).
  std::optional<config::PoolMode> pool_mode() const;

  // The janitor's visit: enforces client_login_timeout, client_idle_timeout and
  // idle_transaction_timeout, and answers a console command that was waiting (PAUSE).
  void check_timeouts(util::TimePoint now);

  std::uint64_t id() const { return id_; }
  // Where the ClientRegistry keeps it; the registry's bookkeeping, set by it alone.
  std::size_t registry_slot() const { return registry_slot_; }
  void set_registry_slot(std::size_t slot) { registry_slot_ = static_cast<std::uint32_t>(slot); }
  std::int32_t cancel_pid() const { return cancel_pid_; }
  std::int32_t cancel_key() const { return cancel_key_; }
  ClientState state() const { return state_; }
  // Asked for the admin console (database pgbouncer or pooler), logged in or not yet.
  bool console_client() const { return console_requested_; }
  const std::string& user() const { return user_; }
  const std::string& database() const { return database_; }
  const net::PeerInfo& peer() const { return peer_; }
  // PgBouncer's "protocol/cipher/key exchange" of its TLS link; empty in plain text.
  std::string tls_description() const { return stream_->tls_description(); }
  // The pooler's end of the connection (a syscall: for the console, not the data path).
  net::PeerInfo local() const { return stream_->local(); }
  // When it connected by the wall clock (SHOW CLIENTS' connect_time).
  std::chrono::system_clock::time_point connected_wall() const;
  // The pool it logged in to, if any.
  const pool::Pool* pool() const { return pool_; }
  // The server it holds, if any.
  const backend::ServerConnection* server() const { return server_.get(); }
  std::string application_name() const;
  // Time spent waiting for a server so far (zero unless waiting).
  util::Duration waiting_for() const;
  // Bytes read from the client and held (for a server not yet assigned, or before login).
  std::size_t held_bytes() const { return buffer_.size(); }
  // Bytes queued for the client, not yet sent.
  std::size_t unsent_bytes() const { return stream_->queued_bytes(); }
  // Named prepared statements it holds (tracked in transaction and statement mode).
  std::size_t prepared_statement_count() const {
    return tracking_ ? tracking_->statements.size() : 0;
  }
  // What its startup packet's `replication` asked for.
  ReplicationMode replication() const { return replication_; }
  // A replication connection's own server, while it is open.
  const backend::ServerConnection* replication_server() const {
    return replication_link_ ? replication_link_->server() : nullptr;
  }

  // net::StreamHandler
  void on_read(util::Bytes data) override;
  void on_disconnect(int status) override;
  void on_drained() override;
  void on_tls_ready() override;
  // backend::ServerPeer
  void on_server_bytes(util::Bytes data, char settled) override;
  void on_server_parameter(std::string_view name, std::string_view value) override;
  void on_server_lost(const std::string& reason) override;
  void on_server_drained() override;
  void on_query_timeout() override;
  void on_server_fast_close(const char* reason) override;
  protocol::ClientStatements* client_statements() override { return &tracking().statements; }
  // pool::Waiter
  void on_server_granted(pool::ServerLease lease) override;
  void on_wait_failed(const std::string& sqlstate, const std::string& message) override;
  // ReplicationClient (client_replication.cpp)
  void on_replication_ready(const backend::ServerConnection& server) override;
  void on_replication_refused(const protocol::ErrorFields& error) override;
  void on_replication_bytes(util::Bytes data) override;
  void on_replication_lost(const std::string& reason, bool told) override;
  void on_replication_drained() override;

 private:
  // A login refused: counted by reason, then fail().
  void refuse(metrics::Refusal reason, const char* sqlstate, const std::string& message);
  void idle_timed_out();
  void handle_startup_bytes();
  // An SSLRequest, or (direct) a ClientHello in `buffer_`: true if a handshake started.
  bool start_tls(bool direct);
  // Decides how the login authenticates (auth_type, or the hba rule) and finishes the logins
  // that need no password exchange: refused, peer, cert. Returns the auth type the
  // Authenticator runs, or nullopt when the login has been dealt with.
  std::optional<config::AuthType> run_login_method();
  // cert: the verified client certificate's common name must be the user name, or with `map`
  // (an auth_ident_file map) be mapped to it.
  void certificate_login(const std::string& map = {});
  // peer: the unix socket peer's OS user name must be the user name, or be mapped to it.
  void peer_login(const std::string& map);
  // Whether the ident map `map` lets `system_name` log in as this client's user.
  bool ident_allows(const std::string& map, const std::string& system_name) const;
  void handle_startup_message(const protocol::StartupMessage& message);
  // The startup packet's parameters and `options` (client_parameters.cpp): reported ones into
  // parameters_, the rest into session_settings_. False when refused.
  bool take_startup_parameters(const protocol::StartupMessage& message);
  // Counts the client against max_db_client_connections and max_user_client_connections; false
  // when it is refused.
  bool join_client_limits();
  // transaction_timeout: its transaction has been open too long; the server is rolled back and
  // reused.
  void transaction_timed_out();
  // query_wait_notify: a NOTICE that it waits for a server, once per wait.
  void notify_waiting();
  // The startup packet's `replication`: what it asks for, and for a replication connection the
  // parameters its server's startup packet carries as sent. False when refused.
  bool take_replication_request(const protocol::StartupMessage& message);
  // Authenticated as a replication connection: log in to a server of its own, outside the
  // pools; `out` holds the AuthenticationOk, `early` what the client sent after it.
  void start_replication(backend::ServerTarget target, std::string out, std::string early);
  void handle_replication_bytes(util::Bytes data);
  // Whether the pool's cached welcome can greet it: it asks for nothing a server must check or
  // spell (a client_encoding that only differs in spelling takes the welcome's).
  bool greets_without_server(const backend::ParameterSet& welcome);
  // What `server` must run before serving it: its parameters and session settings.
  std::string server_sync_sql(const backend::ServerConnection& server) const;
  // The server is in step with it: greet (at login) or pass on what waits.
  void serve_with_server();
  // After the startup checks: the user's secret from auth_file, else from auth_query (cached or
  // looked up, in client_auth_lookup.cpp), then the exchange.
  void begin_authentication();
  void authenticate_with(const config::UserSecret* secret);
  void look_up_secret();
  void on_lookup_answer(const backend::AuthQueryAnswer& answer);
  void take_answer(const backend::AuthQueryAnswer& answer);
  // A login failed against a cached answer: look the secret up once more (the password may have
  // been rotated). True if a look-up started; the login goes on or fails when it answers.
  bool look_up_again();
  void handle_cancel_request(const protocol::CancelRequest& request);
  void handle_auth_bytes();
  // The login failed authentication: PgBouncer's message for the method, SQLSTATE 28P01.
  void auth_failed(const std::string& detail);
  // auth_type = trust and the user is not in auth_file.
  void no_such_user();
  void password_accepted(std::string out = {});
  // `out` holds what the client is still owed from authentication; the login messages are
  // appended so that one write carries them all.
  void authenticated(std::string out = {});
  void greet(const backend::ParameterSet& server_parameters, std::string out = {});
  // The end of every greeting: `shown` as ParameterStatus, the cancel key, ReadyForQuery.
  void send_welcome(const backend::ParameterSet& shown, std::string out);
  void handle_query_bytes(util::Bytes data);
  void request_server();
  void use_server(pool::ServerLease lease);
  void flush_pending_to_server();
  // Client bytes to the server it holds: as they are, or when the server tracks prepared
  // statements, under the pooler's statement names (answering what it can itself).
  void send_to_server(util::Bytes data, int ready_owed);
  void send_rewritten(util::Bytes data);
  void release_server();
  void close(const std::string& reason);
  // PgBouncer's close line, "closing because: <reason> (age=<s>s)", at info or warning level.
  void log_closing(const std::string& reason, bool warning) const;
  // Looks up its [users] entry in the config in force (at login and after a reload).
  void apply_timeouts();
  // A timeout by its global setting, unless the [users] entry sets `per_user`.
  util::Duration user_timeout(double global,
                              std::optional<double> config::UserEntry::*per_user) const;
  void enter_idle();
  void transaction_settled(char status);
  void console_login(std::string out = {});
  void handle_console_bytes();
  void poll_console();
  std::string prefix() const;

  FrontendContext& context_;
  std::unique_ptr<net::Stream> stream_;
  std::uint64_t id_;
  std::uint32_t registry_slot_ = 0;  // its index in the registry (max_client_conn is an int)
  ClientState state_ = ClientState::kStartup;
  int buffered_ready_owed_ = 0;  // ReadyForQuery the bytes in buffer_ will be owed
  ReplicationMode replication_ = ReplicationMode::kNone;
  net::PeerInfo peer_;
  util::TimePoint connected_at_;
  util::TimePoint wait_started_;
  util::Duration login_wait_{};  // waited for the server that only greeted, not yet counted
  util::TimePoint idle_since_;    // when it last had nothing to do (kIdle or kActive)
  // Its [users] entry in config_, whose timeouts override the global ones; null without one.
  const config::UserEntry* user_entry_ = nullptr;
  std::string buffer_;  // startup and auth: bytes not yet framed; later: bytes for the server
  std::string database_;
  std::string user_;
  std::shared_ptr<const config::Config> config_;  // the config this client logged in under
  // What only the login needs, apart so that a logged-in client does not carry it: the janitor
  // frees it once the login is over (not at once: the login's own call chain may still read it).
  struct Login {
    Login(std::shared_ptr<const net::TlsContext> tls, util::Duration timeout)
        : tls_context(std::move(tls)), login_timeout(timeout) {}
    std::unique_ptr<Authenticator> authenticator;
    // The password method this login uses: auth_type, or with hba the matching rule's.
    config::AuthType auth_type = config::AuthType::kMd5;
    // auth_query: where this client's users are looked up, the look-up under way, what it found.
    std::unique_ptr<LookupPlan> lookup_plan;
    std::unique_ptr<SecretLookup> lookup;
    std::optional<config::UserSecret> looked_up;
    util::TimePoint lookup_deadline;
    bool answer_from_cache = false;
    bool looking_up_again = false;
    bool direct_tls = false;  // TLS began with a ClientHello, not an SSLRequest
    std::shared_ptr<const net::TlsContext> tls_context;  // the client_tls of its accept
    // A replication connection's startup parameters, for its own server's startup packet.
    std::vector<std::pair<std::string, std::string>> replication_parameters;
    util::Duration login_timeout;  // client_login_timeout
    // Only a CancelRequest connection has one (and it never logs in, so its Login stays): its
    // cancel's callback holds it weakly, so it knows whether the connection is still there.
    std::shared_ptr<void> liveness;
  };
  // Past the login: greeted, on the console, or streaming replication.
  bool login_over() const;
  std::unique_ptr<Login> login_;
  backend::ParameterSet parameters_;  // what the client asked for or set since
  backend::ParameterSet session_settings_;  // from its startup packet; never reported
  pool::Pool* pool_ = nullptr;
  pool::ServerLease server_;
  protocol::MessageScanner scanner_;
  // Prepared-statement tracking: the messages the rewriter reads, the client's names, and the
  // rewritten bytes each way (buffers reused). Made on first use: a client of an untracked pool
  // never has one.
  struct StatementTracking {
    explicit StatementTracking(std::size_t max_packet_size);
    protocol::MessageSplitter splitter;
    protocol::ClientStatements statements;
    std::string to_server;
    std::string to_client;
  };
  StatementTracking& tracking();
  std::unique_ptr<StatementTracking> tracking_;
  // The flags side by side, so that an idle client's state packs without padding.
  bool wait_notified_ = false;  // this wait's query_wait_notify NOTICE has been sent
  bool in_client_limits_ = false;  // counted in the registry's ClientLimits
  bool unsynced_ = false;  // extended-protocol messages sent since the last Sync
  bool greeted_ = false;
  bool ran_transaction_ = false;  // a transaction (or statement) of its own has completed
  bool console_requested_ = false;
  std::unique_ptr<ConsoleSession> console_;
  std::unique_ptr<ReplicationLink> replication_link_;
  struct Finish {
    const char* sqlstate;
    std::string message;
  };
  std::unique_ptr<Finish> finish_;  // set by finish_at_boundary while a transaction is open
  std::int32_t cancel_pid_ = 0;
  std::int32_t cancel_key_ = 0;
};

}  // namespace pooler::frontend
