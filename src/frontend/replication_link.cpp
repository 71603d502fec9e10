// ReplicationLink: one client's replication connection, passed through on a server of its own.
#include "pooler/frontend/replication_link.hpp"

#include <strings.h>

namespace pooler::frontend {

std::optional<ReplicationMode> parse_replication_mode(std::string_view value) {
  // A prefix of `word` at least `shortest` long, in any case: PostgreSQL's parse_bool.
  auto abbreviates = [value](std::string_view word, std::size_t shortest) {
    return value.size() >= shortest && value.size() <= word.size() &&
           strncasecmp(value.data(), word.data(), value.size()) == 0;
  };
  if (value.size() == 8 && abbreviates("database", 8)) return ReplicationMode::kLogical;
  if (abbreviates("true", 1) || abbreviates("yes", 1) || abbreviates("on", 2) || value == "1") {
    return ReplicationMode::kPhysical;
  }
  if (abbreviates("false", 1) || abbreviates("no", 1) || abbreviates("off", 2) || value == "0") {
    return ReplicationMode::kNone;
  }
  return std::nullopt;
}

const char* replication_word(ReplicationMode mode) {
  switch (mode) {
    case ReplicationMode::kPhysical:
      return "physical";
    case ReplicationMode::kLogical:
      return "logical";
    case ReplicationMode::kNone:
      break;
  }
  return "none";
}

ReplicationLink::ReplicationLink(pool::PoolRegistry& pools, net::Graveyard& graveyard,
                                 backend::ServerTarget target, ReplicationClient& client)
    : graveyard_(graveyard), client_(client),
      server_(pools.unpooled_server(std::move(target), *this)) {}

ReplicationLink::~ReplicationLink() {
  close();
  // The server may be the one whose callback brought the client down: it dies next tick.
  graveyard_.bury(std::move(server_));
}

void ReplicationLink::connect() { server_->connect(); }

void ReplicationLink::close() { server_->close(); }

void ReplicationLink::send(util::Bytes data) {
  // No ReadyForQuery is counted: a walsender streams COPY data for as long as it likes, and no
  // one waits for this server to be free.
  if (open()) server_->send(data, 0);
}

void ReplicationLink::pause_reading() {
  if (open()) server_->pause_reading();
}

void ReplicationLink::resume_reading() {
  if (open()) server_->resume_reading();
}

bool ReplicationLink::send_cancel(std::function<void()> on_done) {
  if (!open()) return false;
  server_->send_cancel(std::move(on_done));
  return true;
}

void ReplicationLink::on_server_ready(backend::ServerConnection& server) {
  server.attach(*this);
  client_.on_replication_ready(server);
}

void ReplicationLink::on_server_login_failed(backend::ServerConnection&,
                                             const protocol::ErrorFields& error,
                                             backend::LoginFailure) {
  client_.on_replication_refused(error);
}

void ReplicationLink::on_server_closed(backend::ServerConnection&, const std::string&) {
  // The peer was told first (on_server_lost); the server is buried with the link.
}

void ReplicationLink::on_server_bytes(util::Bytes data, char) {
  client_.on_replication_bytes(data);
}

void ReplicationLink::on_server_lost(const std::string& reason) {
  client_.on_replication_lost(reason, server_->fatal_forwarded());
}

}  // namespace pooler::frontend
