// ClientConnection as a replication connection: after authentication it logs in to a server of
// its own (replication_link.hpp), is greeted with that server's values and pid, and from then
// on its bytes and the server's pass through untouched until either side closes.
#include <spdlog/spdlog.h>

#include "pooler/frontend/client_connection.hpp"
#include "pooler/frontend/client_registry.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;

namespace {

// What a replication client may send before it is greeted (nothing, by the protocol): read no
// more once this much waits.
constexpr std::size_t kMaxEarlyBytes = 64 * 1024;

}  // namespace

void ClientConnection::start_replication(backend::ServerTarget target, std::string out,
                                         std::string early) {
  target.startup_parameters = std::move(login_->replication_parameters);
  target.connect_query.clear();  // SQL that a physical walsender would refuse
  stream_->write(out);
  state_ = ClientState::kReplication;
  buffer_ = std::move(early);
  spdlog::debug("{} {} replication connection: a server of its own", prefix(),
                replication_word(replication_));
  replication_link_ = std::make_unique<ReplicationLink>(context_.pools, context_.graveyard,
                                                        std::move(target), *this);
  replication_link_->connect();
}

void ClientConnection::handle_replication_bytes(util::Bytes data) {
  if (!greeted_) {
    buffer_.append(util::as_chars(data));
    if (buffer_.size() >= kMaxEarlyBytes) stream_->stop_reading();
    return;
  }
  replication_link_->send(data);
  if (replication_link_->backlogged()) stream_->stop_reading();
}

void ClientConnection::on_replication_ready(const backend::ServerConnection& server) {
  // Its cancel key names the server's real pid, with a secret of the pooler's own.
  context_.clients.register_cancel_key(*this, cancel_pid_, cancel_key_);
  context_.clients.take_backend_pid(*this, server.backend_pid(), cancel_pid_, cancel_key_);
  send_welcome(server.parameters(), {});
  if (state_ == ClientState::kClosed) return;
  if (!buffer_.empty()) {
    std::string early = std::move(buffer_);
    buffer_.clear();
    replication_link_->send(util::as_bytes(early));
  }
  stream_->start_reading();
}

void ClientConnection::on_replication_refused(const protocol::ErrorFields& error) {
  context_.pools.events().count(metrics::Refusal::kServerLoginFailed);
  // PostgreSQL's own refusal (no replication privilege, no hba line, too many walsenders),
  // with its SQLSTATE, as a direct connection would have it.
  const char* sqlstate = error.sqlstate.empty() ? ss::kConnectionFailure : error.sqlstate.c_str();
  fail(sqlstate, error.message.empty() ? "server login failed" : error.message);
}

void ClientConnection::on_replication_bytes(util::Bytes data) {
  stream_->write(data);
  if (stream_->above_high_watermark()) replication_link_->pause_reading();
}

void ClientConnection::on_replication_lost(const std::string& reason, bool told) {
  if (told) {
    close("server closed the connection after a FATAL error (" + reason + ")");
    return;
  }
  fail(ss::kConnectionFailure, "server conn crashed? (" + reason + ")");
}

void ClientConnection::on_replication_drained() {
  if (state_ == ClientState::kReplication && greeted_) stream_->start_reading();
}

}  // namespace pooler::frontend
