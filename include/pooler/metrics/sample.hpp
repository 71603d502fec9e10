// Sample: one moment of the pooler's state, copied out on the loop (once per janitor tick) and
// published to the exporter thread, which formats it. Plain values only: the exporter never
// touches live objects, so the data path takes no lock.
#pragma once

#include <string>
#include <vector>

#include "pooler/metrics/events.hpp"
#include "pooler/metrics/pool_stats.hpp"

namespace pooler::metrics {

struct PoolSample {
  std::string database;
  std::string user;
  std::string pool_mode;
  bool auth_lookup = false;  // serves auth_query look-ups only (labelled so it never collides)
  int client_active = 0;  // holding a server
  int client_waiting = 0;
  int client_idle = 0;  // logged in, holding no server, not waiting
  int server_active = 0;
  int server_idle = 0;
  int server_used = 0;  // being reset or checked
  int server_login = 0;
  int pool_size = 0;  // the pool's limit without the reserve
  double maxwait_seconds = 0;
  PoolStats stats;

  // Active servers over the limit, 0..1 (the reserve can take it past the limit: capped).
  double utilization() const;
};

struct AlertSample {
  std::string alert;
  std::string database;
  std::string user;
  std::string severity;
  bool firing = false;
};

struct ProcessSample {
  int open_fds = 0;
  long max_fds = 0;
  int clients = 0;
  int max_client_conn = 0;
  double start_time_seconds = 0;  // Unix time
  double uptime_seconds = 0;
};

// What readiness needs from the loop; the exporter adds a reachability probe of its own.
struct Readiness {
  std::string not_ready;  // why not, when the pooler itself is not (paused, shutting down)
  bool server_logged_in = false;  // some pool has logged in to PostgreSQL since start
  std::vector<std::string> probe_conninfos;  // libpq conninfo of each configured database
};

struct Sample {
  std::string version;
  std::vector<PoolSample> pools;
  Events events;
  ProcessSample process;
  std::vector<AlertSample> alerts;
  Readiness readiness;
  bool paused = false;
};

}  // namespace pooler::metrics
