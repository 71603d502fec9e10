// Events: the process-wide counters by reason (refused clients, timeouts, server closes, cancel
// requests, errors by SQLSTATE class, reloads), bumped on the loop as plain integers and copied
// into each metrics sample. Per-pool traffic lives in PoolStats.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "pooler/metrics/histogram.hpp"

namespace pooler::metrics {

// Why a client's login was refused.
enum class Refusal {
  kMaxClientConn,
  kAuthFailed,
  kNotAllowed,
  kUnknownDatabase,
  kDatabaseDisabled,
  kSaturated,
  kLoginTimeout,
  kProtocolError,
  kServerLoginFailed,
  kClientLimit,  // max_db_client_connections or max_user_client_connections
  kCount
};

enum class Timeout {
  kQueryTimeout,
  kQueryWaitTimeout,
  kClientIdleTimeout,
  kIdleTransactionTimeout,
  kClientLoginTimeout,
  kServerIdleTimeout,
  kServerLifetime,
  kServerConnectTimeout,
  kCancelWaitTimeout,
  kTransactionTimeout,
  kCount
};

// Why the pooler closed a server connection (or saw it close).
enum class ServerClose {
  kIdleTimeout,
  kLifetime,
  kPaused,
  kReconnect,
  kSurplus,
  kCheckFailed,
  kResetFailed,
  kEvicted,
  kClientGone,
  kCancelWaitTimeout,
  kConnectTimeout,
  kLoginFailed,
  kServerGone,
  kShutdown,
  kCount
};

// Label values, as exported (snake_case).
std::string_view label(Refusal r);
std::string_view label(Timeout t);
std::string_view label(ServerClose c);

template <typename Enum>
using CountsBy = std::array<std::uint64_t, static_cast<std::size_t>(Enum::kCount)>;

// One side's TLS: "client" is clients' links to the pooler, "server" the pooler's to PostgreSQL.
struct TlsEvents {
  std::uint64_t handshakes_ok = 0;
  std::uint64_t handshakes_failed = 0;  // refused, broken off, or never finished
  std::int64_t open = 0;                // established and not yet closed
  LatencyHistogram handshake;
};

enum class TlsSide { kClient, kServer, kCount };

struct Events {
  std::uint64_t clients_accepted = 0;
  CountsBy<Refusal> refused{};
  CountsBy<Timeout> timeouts{};
  CountsBy<ServerClose> server_closes{};
  std::uint64_t cancels_forwarded = 0;
  std::uint64_t cancels_unmatched = 0;
  std::uint64_t cancels_idle = 0;  // the client named had no request of its own running
  // Peering: cancels passed on to the peer whose id their key carries (by peer id), cancels of
  // this process's own clients that came through a peer, and ones dropped (no such peer, no
  // hop left, or too many on their way).
  std::map<int, std::uint64_t> peer_cancels_forwarded;
  std::uint64_t peer_cancels_received = 0;
  std::uint64_t peer_cancels_dropped = 0;
  // Clients gone while their request ran: the pooler cancelled it and kept the server.
  std::uint64_t requests_abandoned = 0;
  std::map<std::string, std::uint64_t> client_errors;  // by SQLSTATE class ("57", "08", ...)
  // auth_query: logins whose secret came from the cache, and look-ups run, by how they ended.
  std::uint64_t auth_cache_hits = 0;
  std::uint64_t auth_lookups_found = 0;    // a secret
  std::uint64_t auth_lookups_missing = 0;  // no row, or a NULL secret
  std::uint64_t auth_lookups_failed = 0;   // the look-up itself failed
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  std::array<TlsEvents, static_cast<std::size_t>(TlsSide::kCount)> tls{};

  void count(Refusal r) { ++refused[static_cast<std::size_t>(r)]; }
  void count(Timeout t) { ++timeouts[static_cast<std::size_t>(t)]; }
  void count(ServerClose c) { ++server_closes[static_cast<std::size_t>(c)]; }
  void count_error(std::string_view sqlstate) {
    if (sqlstate.size() >= 2) ++client_errors[std::string(sqlstate.substr(0, 2))];
  }
};

}  // namespace pooler::metrics
