// ReplicationLink: a replication connection (`replication=true` or `database` in the startup
// packet) passed through to PostgreSQL on a server connection of its own, outside every pool,
// as PgBouncer 1.23 does. A walsender session cannot be handed to another client, and such
// connections live for hours, so pooling them would gain nothing. The client and its server
// are a pair: when one closes, so does the other. Bytes pass untouched both ways.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pooler/backend/server_connection.hpp"
#include "pooler/net/graveyard.hpp"
#include "pooler/pool/pool_registry.hpp"

namespace pooler::frontend {

enum class ReplicationMode {
  kNone,
  kPhysical,  // replication=true: a physical walsender (pg_basebackup, streaming standbys)
  kLogical,   // replication=database: a walsender bound to a database (logical decoding)
};

// The startup packet's `replication` value as PostgreSQL reads it: "database", or a boolean as
// parse_bool spells it (abbreviations too); nullopt for anything else.
std::optional<ReplicationMode> parse_replication_mode(std::string_view value);
// PgBouncer's SHOW CLIENTS / SHOW SERVERS word: none, physical or logical.
const char* replication_word(ReplicationMode mode);

// What the link tells the client it serves.
class ReplicationClient {
 public:
  virtual ~ReplicationClient() = default;
  // PostgreSQL accepted the login: the client is greeted with this server's values and pid.
  virtual void on_replication_ready(const backend::ServerConnection& server) = 0;
  // PostgreSQL (or the way to it) refused the login.
  virtual void on_replication_refused(const protocol::ErrorFields& error) = 0;
  virtual void on_replication_bytes(util::Bytes data) = 0;
  // The server has gone; `told` when PostgreSQL's own FATAL already reached the client.
  virtual void on_replication_lost(const std::string& reason, bool told) = 0;
  // The server took what was queued for it: the client may be read again.
  virtual void on_replication_drained() = 0;
};

class ReplicationLink final : public backend::ServerOwner, public backend::ServerPeer {
 public:
  ReplicationLink(pool::PoolRegistry& pools, net::Graveyard& graveyard,
                  backend::ServerTarget target, ReplicationClient& client);
  // Closes the server (Terminate) if it is still open.
  ~ReplicationLink() override;
  ReplicationLink(const ReplicationLink&) = delete;
  ReplicationLink& operator=(const ReplicationLink&) = delete;

  void connect();
  // The client has gone: Terminate the server; no callback follows.
  void close();
  // The client's bytes, as they are; only once the client has been greeted.
  void send(util::Bytes data);
  // The server has more queued than its high watermark: stop reading the client.
  bool backlogged() const { return server_ && server_->write_backlogged(); }
  void pause_reading();
  void resume_reading();
  // A CancelRequest for what the walsender runs; false before login or after the close.
  bool send_cancel(std::function<void()> on_done);
  // The server, for SHOW SERVERS; null once it has gone.
  const backend::ServerConnection* server() const { return open() ? server_.get() : nullptr; }

  // backend::ServerOwner
  void on_server_ready(backend::ServerConnection& server) override;
  void on_server_login_failed(backend::ServerConnection& server,
                              const protocol::ErrorFields& error,
                              backend::LoginFailure why) override;
  void on_server_closed(backend::ServerConnection& server, const std::string& reason) override;
  void on_server_cancels_done(backend::ServerConnection&) override {}
  // backend::ServerPeer
  void on_server_bytes(util::Bytes data, char settled) override;
  void on_server_parameter(std::string_view, std::string_view) override {}
  void on_server_lost(const std::string& reason) override;
  void on_server_drained() override { client_.on_replication_drained(); }
  // Neither reaches an unpooled server: no janitor times its queries, no reload closes it.
  void on_query_timeout() override {}
  void on_server_fast_close(const char*) override {}

 private:
  bool open() const { return server_ && server_->state() == backend::ServerState::kActive; }

  net::Graveyard& graveyard_;
  ReplicationClient& client_;
  std::unique_ptr<backend::ServerConnection> server_;
};

}  // namespace pooler::frontend
