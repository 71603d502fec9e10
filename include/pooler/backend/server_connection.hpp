// ServerConnection: one connection to PostgreSQL. It logs in (trust, cleartext, md5, SCRAM),
// remembers the server's parameters and cancel key, runs the pooler's own statements (reset,
// parameter sync), and while leased to a client passes bytes through, watching only for
// ReadyForQuery and ParameterStatus.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pooler/backend/parameter_set.hpp"
#include "pooler/backend/server_cancel.hpp"
#include "pooler/config/config.hpp"
#include "pooler/net/connector.hpp"
#include "pooler/net/stream.hpp"
#include "pooler/metrics/pool_stats.hpp"
#include "pooler/net/timer.hpp"
#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/message_scanner.hpp"
#include "pooler/protocol/prepared_statements.hpp"
#include "pooler/protocol/reply_filter.hpp"
#include "pooler/protocol/reply_splicer.hpp"
#include "pooler/protocol/scram.hpp"
#include "pooler/util/clock.hpp"

namespace pooler::backend {

// server_tls_sslmode, with libpq's meanings.
enum class ServerTlsMode { kDisable, kAllow, kPrefer, kRequire, kVerifyCa, kVerifyFull };

// How a server connection is encrypted: the mode and the context its handshakes use (null when
// the mode is kDisable).
struct ServerTls {
  ServerTlsMode mode = ServerTlsMode::kDisable;
  std::shared_ptr<const net::TlsContext> context;
  bool operator==(const ServerTls&) const = default;
};

// Where and as whom to log in.
struct ServerTarget {
  std::string database;  // the name clients ask for ([databases] entry), for log lines
  std::string host;      // where this connection goes: one of `hosts`
  int port = 5432;
  std::vector<config::HostPort> hosts;  // the entry's host list, which the pool picks from
  std::string dbname;
  std::string user;
  std::string secret;  // plain password, "md5..." or empty
  std::optional<protocol::ScramKey> scram_client_key;  // pass-through from a client's SCRAM
  std::optional<protocol::ScramKey> scram_server_key;
  std::vector<std::pair<std::string, std::string>> startup_parameters;  // beyond user/database
  net::TcpOptions tcp;
  std::size_t max_packet_size = 2147483647;
  bool log_connections = true;  // log each new connection with its local address
  std::string connect_query;    // run once right after login; its errors are only logged
  ServerTls tls;
};

inline constexpr std::size_t kReadyForQuerySize = 6;

enum class ServerState {
  kConnecting,  // TCP/unix connect in progress
  kLogin,       // startup and authentication
  kIdle,        // in the pool, free
  kActive,      // leased to a client
  kInternal,    // running the pooler's own statement (reset)
  kBeingCanceled,  // would be idle, but a cancel sent for it has not reached PostgreSQL yet
  kClosed,
};

// Why a server login failed.
enum class LoginFailure {
  kUnreachable,        // no connection, or the login did not finish
  kRefused,            // PostgreSQL answered with an error (starting up, bad password, ...)
  kWrongPasswordType,  // the pooler holds no secret that answers the method PostgreSQL asked
};

// The pool's side: told when the server is ready for use or gone.
class ServerOwner {
 public:
  virtual ~ServerOwner() = default;
  virtual void on_server_ready(class ServerConnection& server) = 0;
  virtual void on_server_login_failed(ServerConnection& server, const protocol::ErrorFields& error,
                                      LoginFailure why) = 0;
  // The server closed or failed; the owner drops it. Called after the peer was told.
  virtual void on_server_closed(ServerConnection& server, const std::string& reason) = 0;
  // The last cancel in flight for it has finished: it may now serve another client.
  virtual void on_server_cancels_done(ServerConnection& server) = 0;
};

// The cancels in flight for one server, as SHOW POOLS counts them.
struct CancelCounts {
  int requests_waiting = 0;  // a client's cancel, not yet sent to PostgreSQL
  int requests_active = 0;   // a client's cancel, sent, PostgreSQL not done with it
  int connections = 0;       // every cancel connection open, whoever asked
};

// The leasing client's side: bytes to forward and transaction boundaries.
class ServerPeer {
 public:
  virtual ~ServerPeer() = default;
  // Bytes to forward. `settled` is set when they end with the ReadyForQuery that answers the
  // last request the client sent: its status ('I', 'T' or 'E'), the message being the last
  // kReadyForQuerySize bytes of `data`. Otherwise 0.
  virtual void on_server_bytes(util::Bytes data, char settled) = 0;
  virtual void on_server_parameter(std::string_view name, std::string_view value) = 0;
  virtual void on_server_lost(const std::string& reason) = 0;
  virtual void on_server_drained() = 0;
  // query_timeout expired for the running request; a cancel has been sent.
  virtual void on_query_timeout() = 0;
  // server_fast_close: the server must close now that it is between transactions; the peer
  // gives it back and tells its client why.
  virtual void on_server_fast_close(const char* reason) = 0;
  // The names the peer gave its prepared statements, which replies may correct (a Parse that
  // PostgreSQL skipped after an error); null when it keeps none.
  virtual protocol::ClientStatements* client_statements() { return nullptr; }
};

class ServerConnection final : public net::StreamHandler {
 public:
  ServerConnection(net::Loop& loop, net::DnsCache& dns, const util::Clock& clock,
                   ServerTarget target, ServerOwner& owner, std::uint64_t id);
  ~ServerConnection() override;
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  void connect();
  // Closes politely (Terminate) and for good; the owner is not called back.
  void close();

  // Where its queries and transactions are counted (the owning pool's stats); optional.
  void count_into(metrics::PoolStats& stats) { stats_ = &stats; }
  // Keeps up to `capacity` prepared statements of the pooler's naming (max_prepared_statements
  // in transaction and statement mode); 0, the default, passes replies through untouched.
  void track_statements(std::size_t capacity) {
    statements_ = protocol::ServerStatements(capacity);
  }
  // The statements it holds and what its replies must become, for the client's rewriter.
  protocol::ServerStatements& statements() { return statements_; }
  const protocol::ServerStatements& statements() const { return statements_; }
  protocol::ReplyFilter& replies() { return replies_; }

  // Lease side.
  void attach(ServerPeer& peer);
  void detach();
  ServerPeer* peer() const { return peer_; }
  // Forwards client bytes; `ready_owed` counts the Sync/Query/FunctionCall messages in them.
  void send(util::Bytes data, int ready_owed);
  // Runs a statement of the pooler's own whose results are swallowed; `done(ok)` follows its
  // ReadyForQuery. While it runs the peer sees nothing.
  void run_internal(const std::string& sql, std::function<void(bool ok)> done);
  // Swallows what the server still owes (after a cancel, with no client left) and calls
  // `done(ok)` once it is idle again and has sat idle for a moment; ok is false if it ended
  // inside a transaction or failed.
  void drain(std::function<void(bool ok)> done);
  // Sends a CancelRequest for whatever this server is running, on a connection of its own.
  // `on_done`, if given, runs once PostgreSQL has dealt with it (a client's CancelRequest
  // connection is closed then, as PostgreSQL closes it).
  void send_cancel(std::function<void()> on_done = nullptr);
  // Its client went away mid-request: make PostgreSQL end the request as soon as it can (a
  // CopyFail for a COPY FROM STDIN, which a cancel would not interrupt; a cancel otherwise).
  void abandon_request();
  bool cancels_in_flight() const { return !cancels_.empty(); }
  CancelCounts cancel_counts() const;
  // Gives up on cancels PostgreSQL has not finished within `limit`.
  void expire_cancels(util::TimePoint now, util::Duration limit);
  // True when nothing is owed and the last ReadyForQuery said idle: safe to hand to another.
  bool clean() const {
    return ready_owed_ == 0 && last_status_ == 'I' && at_boundary() && replies_.idle();
  }
  // A request is in flight: since when (for query_timeout).
  bool busy() const { return ready_owed_ > 0; }
  util::TimePoint busy_since() const { return busy_since_; }
  // A transaction (or a lone statement) is open: a request is owed an answer or the last
  // ReadyForQuery said 'T' or 'E'. Since when, for transaction_timeout.
  bool in_transaction() const { return ready_owed_ > 0 || last_status_ != 'I'; }
  util::TimePoint transaction_started() const { return xact_started_; }
  // The last ReadyForQuery: its status and when it came (for idle_transaction_timeout).
  char transaction_status() const { return last_status_; }
  util::TimePoint last_ready_at() const { return last_ready_at_; }
  // query_timeout already hit the current request (so the janitor acts only once).
  bool timed_out() const { return timed_out_; }
  void mark_timed_out() { timed_out_ = true; }
  // RECONNECT or a changed target: close it when released instead of reusing it.
  bool close_needed() const { return close_needed_; }
  void mark_close_needed() { close_needed_ = true; }

  void pause_reading();
  void resume_reading();
  bool write_backlogged() const { return stream_ && stream_->above_high_watermark(); }
  // Bytes queued for the server, not yet sent.
  std::size_t unsent_bytes() const { return stream_ ? stream_->queued_bytes() : 0; }

  ServerState state() const { return state_; }
  // PostgreSQL's own FATAL ErrorResponse was passed to the peer (the connection ends next).
  bool fatal_forwarded() const { return fatal_forwarded_; }
  void set_state(ServerState state);
  util::TimePoint state_since() const { return state_since_; }
  util::TimePoint connected_at() const { return connected_at_; }
  std::chrono::system_clock::time_point connected_wall() const { return connected_wall_; }
  std::uint64_t id() const { return id_; }
  const ParameterSet& parameters() const { return parameters_; }
  // The session settings the pooler applied for its client (session_settings.hpp); a reset
  // query's DISCARD ALL clears them.
  const ParameterSet& applied_settings() const { return applied_settings_; }
  // The client parameters it was last found in step with (frontend's sync at assignment).
  SyncMemo& parameter_sync_memo() const { return parameter_sync_memo_; }
  void set_applied_settings(const ParameterSet& settings) { applied_settings_ = settings; }
  // The first error of the last internal statement (what a failed parameter sync tells).
  const protocol::ErrorFields& internal_error() const { return internal_error_; }
  std::int32_t backend_pid() const { return backend_pid_; }
  std::int32_t backend_key() const { return backend_key_; }
  const ServerTarget& target() const { return target_; }
  // The IP address it connected to (a name's address from DNS); empty before that and for unix
  // sockets. Its cancels go there, so they reach this server's PostgreSQL.
  const std::string& remote_address() const { return remote_address_; }
  // PgBouncer's "protocol/cipher/key exchange" of the TLS link; empty in plain text.
  std::string tls_description() const { return stream_ ? stream_->tls_description() : ""; }
  // "S-0x..: <database>/<user>@<host>:<port>", PgBouncer's prefix for a server's log lines.
  std::string log_prefix() const;

  // net::StreamHandler
  void on_read(util::Bytes data) override;
  void on_disconnect(int status) override;
  void on_drained() override;

 private:
  void on_connected(std::unique_ptr<net::Stream> stream, const std::string& error);
  void send_startup();
  // The one-byte answer to SSLRequest, and the handshake it may start.
  void handle_ssl_answer(util::Bytes data);
  void on_tls_ready() override;
  void handle_login_bytes(util::Bytes data);
  bool handle_login_message(char type, util::Bytes body);
  bool handle_auth_request(util::Bytes body);
  // Login is over (connect_query included): the server is ready for the pool.
  void logged_in();
  void handle_forwarding_bytes(util::Bytes data);
  // Forwarding through the reply filter (prepared statements tracked): the pooler's own
  // ParseComplete/CloseComplete dropped, made-up answers inserted.
  void filter_forwarding_bytes(util::Bytes data);
  // What the pooler notes of each message forwarded: ReadyForQuery, COPY IN, FATAL,
  // ParameterStatus.
  void note_forwarded(char type, util::Bytes body);
  // Between messages, nothing held back.
  bool at_boundary() const { return scanner_.at_boundary() && !splicer_.holding(); }
  // The replies still expected cannot be followed (no client to answer): rely on none of the
  // statements, so each is closed before it is prepared again.
  void forget_statement_replies();
  void handle_internal_bytes(util::Bytes data);
  void login_failed(protocol::ErrorFields error, LoginFailure why = LoginFailure::kUnreachable);
  // PostgreSQL asked for `method` and the pooler has no secret of that kind for the user.
  void wrong_password_type(const char* method);
  void note_ready(char status);
  void count_ready(char status);
  void start_swallowing(std::function<void(bool)> done);
  void lost(const std::string& reason);
  void write(const std::string& bytes);
  void cancel_finished(ServerCancel& cancel);
  void release_cancel_requesters();

  net::Loop& loop_;
  net::DnsCache& dns_;
  const util::Clock& clock_;
  ServerTarget target_;
  std::string remote_address_;
  ServerOwner& owner_;
  std::uint64_t id_;
  ServerState state_ = ServerState::kConnecting;
  bool fatal_forwarded_ = false;
  util::TimePoint state_since_;
  util::TimePoint connected_at_;
  std::chrono::system_clock::time_point connected_wall_ = std::chrono::system_clock::now();
  std::unique_ptr<net::PendingConnect> pending_connect_;
  std::vector<std::unique_ptr<ServerCancel>> cancels_;
  std::unique_ptr<net::Stream> stream_;
  std::string login_buffer_;
  bool awaiting_ssl_answer_ = false;
  std::unique_ptr<protocol::ScramClientSession> scram_;
  ParameterSet parameters_;
  ParameterSet applied_settings_;
  mutable SyncMemo parameter_sync_memo_;
  std::int32_t backend_pid_ = 0;
  std::int32_t backend_key_ = 0;
  ServerPeer* peer_ = nullptr;
  protocol::MessageScanner scanner_;
  protocol::ServerStatements statements_{0};
  protocol::ReplyFilter replies_;
  protocol::ClientStatements orphan_statements_;  // the client names when no peer keeps any
  protocol::ReplySplicer splicer_;
  int ready_owed_ = 0;
  char last_status_ = 'I';
  bool copy_in_ = false;  // a COPY FROM STDIN waits for the client's data
  util::TimePoint busy_since_;
  util::TimePoint query_started_;  // the client request now running, for stats
  util::TimePoint xact_started_;
  metrics::PoolStats* stats_ = nullptr;
  util::TimePoint last_ready_at_;
  bool timed_out_ = false;
  bool close_needed_ = false;
  std::function<void(bool)> internal_done_;
  std::unique_ptr<net::Timer> settle_timer_;  // created on first use, reused after
  std::function<void()> settled_;
  bool internal_failed_ = false;
  protocol::ErrorFields internal_error_;
};

}  // namespace pooler::backend
