// Snapshot: the state the console reports, copied out of the live registries in one pass so the
// views that format it are pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pooler/config/config.hpp"
#include "pooler/metrics/pool_stats.hpp"

namespace pooler::frontend {
class ClientRegistry;
}
namespace pooler::pool {
class PoolRegistry;
}

namespace pooler::admin {

using WallTime = std::chrono::system_clock::time_point;

struct PoolView {
  std::string database;
  std::string user;
  int cl_active = 0;
  int cl_waiting = 0;
  int cl_active_cancel_req = 0;
  int cl_waiting_cancel_req = 0;
  int sv_active = 0;
  int sv_active_cancel = 0;
  int sv_being_canceled = 0;
  int sv_idle = 0;
  int sv_used = 0;
  int sv_tested = 0;
  int sv_login = 0;
  std::int64_t maxwait_us = 0;
  std::string pool_mode;
  std::string load_balance_hosts;  // empty (NULL) unless the database's host is a list
};

struct ConnectionView {
  char type = 'C';  // C client, S server
  std::string user;
  std::string database;
  std::string replication = "none";  // none, physical or logical
  std::string state;  // PgBouncer's words: active, idle, waiting, used, tested, new
  std::string addr;
  int port = 0;
  std::string local_addr;
  int local_port = 0;
  WallTime connect_time{};
  WallTime request_time{};
  std::int64_t wait_us = 0;
  std::uint64_t id = 0;
  std::uint64_t link = 0;  // the peer's id, 0 when none
  bool close_needed = false;
  int remote_pid = 0;
  std::string tls;  // PgBouncer's "protocol/cipher/key exchange"; empty in plain text
  std::string application_name;
  int prepared_statements = 0;  // a client's names, a server's statements
  // For SHOW SOCKETS and ACTIVE_SOCKETS.
  std::int64_t recv_pos = 0;     // bytes received from it and held, not yet passed on
  std::int64_t send_remain = 0;  // bytes queued for it, not yet sent
  bool in_flight = false;        // a request awaits its answer, or bytes wait either way
};

// One row of SHOW STATS: a database's pools summed.
struct DatabaseStats {
  std::string database;
  metrics::PoolStats totals;
  metrics::StatsAverages averages;
};

// One row of SHOW MEM: a kind of long-lived object, its size and how many are in use.
struct MemoryRow {
  std::string name;
  std::int64_t size = 0;
  std::int64_t used = 0;
};

// One firing saturation alert (SHOW ALERTS).
struct AlertView {
  std::string alert;
  std::string database;  // empty for process-wide alerts
  std::string user;
  std::string severity;
  WallTime since{};
  double value = 0;
  double threshold = 0;
};

// One cached name (SHOW DNS_HOSTS).
struct DnsHostView {
  std::string hostname;
  std::int64_t ttl = 0;  // seconds left, 0 once expired
  std::string addrs;     // comma-separated
};

struct Snapshot {
  std::string version;
  WallTime now{};
  std::shared_ptr<const config::Config> config;
  std::vector<PoolView> pools;
  std::vector<ConnectionView> clients;
  std::vector<ConnectionView> servers;
  std::vector<DatabaseStats> stats;  // by database name
  std::vector<MemoryRow> memory;
  bool paused = false;  // PAUSE without a database, or SIGUSR1
  bool suspended = false;
  std::set<std::string> paused_databases;  // every paused one, by either kind of PAUSE
  std::set<std::string> disabled_databases;
  std::vector<std::string> auto_databases;  // served through "*" now (PgBouncer's autodbs)
  // Clients per database and per user as max_*_client_connections count them (logging in and
  // console clients included).
  std::map<std::string, int> database_clients;
  std::map<std::string, int> user_clients;
  std::vector<AlertView> alerts;  // firing now
  std::vector<DnsHostView> dns_hosts;
  std::int64_t dns_queries = 0;  // lookups running
  std::int64_t dns_pending = 0;  // connects waiting for them
  std::map<int, int> peer_cancels_in_flight;  // by peer id, every [peers] entry
};

Snapshot take_snapshot(const frontend::ClientRegistry& clients, const pool::PoolRegistry& pools,
                       std::shared_ptr<const config::Config> config, std::string version);

}  // namespace pooler::admin
