// ClientConnection's login method: auth_type, or with auth_type = hba the matching rule's
// method. Refusals, peer and the ident-mapped names are handled here; the password exchange
// stays with the Authenticator in client_login.cpp.
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <vector>

#include "pooler/config/ident_map.hpp"
#include "pooler/frontend/client_connection.hpp"
#include "pooler/frontend/login_method.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;

namespace {

// The OS user name of `uid`; empty when there is none (or it cannot be read).
std::string os_user_name(int uid) {
  if (uid < 0) return {};
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(static_cast<uid_t>(uid), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return {};
  }
  return found->pw_name;
}

}  // namespace

std::optional<config::AuthType> ClientConnection::run_login_method() {
  LoginRequest request{peer_.is_unix, stream_->tls(), peer_.addr, database_, user_,
                       replication_ == ReplicationMode::kPhysical};
  LoginMethod method = decide_login_method(*config_, request);
  state_ = ClientState::kAuth;
  switch (method.kind) {
    case LoginKind::kRefused:
      refuse(metrics::Refusal::kNotAllowed, ss::kInvalidAuthorization, method.refusal);
      return std::nullopt;
    case LoginKind::kPeer:
      peer_login(method.map);
      return std::nullopt;
    case LoginKind::kCertificate:
      certificate_login(method.map);
      return std::nullopt;
    case LoginKind::kAuthenticator:
      break;
  }
  return method.auth_type;
}

bool ClientConnection::ident_allows(const std::string& map, const std::string& system_name) const {
  return config_->ident_maps && config::ident_allows(*config_->ident_maps, map, system_name, user_);
}

void ClientConnection::peer_login(const std::string& map) {
  // PostgreSQL's log reasons; the client hears only that peer authentication failed.
  std::string reason;
  std::string os_user = os_user_name(peer_.uid);
  if (!peer_.is_unix) {
    reason = "not a unix socket connection";
  } else if (os_user.empty()) {
    reason = "could not look up local user ID " + std::to_string(peer_.uid);
  } else if (map.empty() && os_user != user_) {
    reason = "provided user name (" + user_ + ") and authenticated user name (" + os_user +
             ") do not match";
  } else if (!map.empty() && !ident_allows(map, os_user)) {
    reason = "no match in usermap \"" + map + "\" for user \"" + user_ + "\" authenticated as \"" +
             os_user + "\"";
  }
  if (!reason.empty()) {
    spdlog::info("{} peer authentication failed: {}", prefix(), reason);
    refuse(metrics::Refusal::kAuthFailed, ss::kInvalidAuthorization,
           "Peer authentication failed for user \"" + user_ + "\"");
    return;
  }
  password_accepted();
}

}  // namespace pooler::frontend
