// PoolStats: the traffic counters of one pool, bumped on the data path (plain integers, no
// locks: one loop owns them), and the per-period averages SHOW STATS and log_stats report.
#pragma once

#include <cstdint>

#include "pooler/metrics/histogram.hpp"

namespace pooler::metrics {

// Monotonic totals since start. Times are microseconds, as PgBouncer reports them.
struct PoolStats {
  std::uint64_t server_assignment_count = 0;  // a server was leased to a client
  std::uint64_t xact_count = 0;               // transactions, autocommit statements included
  std::uint64_t query_count = 0;              // requests answered by a ReadyForQuery
  std::uint64_t bytes_received = 0;           // from clients
  std::uint64_t bytes_sent = 0;               // to clients
  std::uint64_t xact_time_us = 0;
  std::uint64_t query_time_us = 0;
  std::uint64_t wait_time_us = 0;  // clients waiting for a server
  std::uint64_t client_parse_count = 0;
  std::uint64_t server_parse_count = 0;
  std::uint64_t bind_count = 0;
  std::uint64_t client_login_count = 0;
  std::uint64_t server_login_count = 0;  // servers that logged in
  std::uint64_t server_login_failures = 0;
  std::uint64_t query_wait_timeouts = 0;  // clients refused after query_wait_timeout

  // Each wait, query and transaction, for percentiles (averages() leaves them empty).
  LatencyHistogram wait_histogram;
  LatencyHistogram query_histogram;
  LatencyHistogram xact_histogram;

  PoolStats& operator+=(const PoolStats& other);
};

// The change between two PoolStats over one stats_period, as PgBouncer averages it: counts and
// bytes per second; xact, query and wait time per transaction, query and assignment. Same fields,
// so views print totals and averages alike.
using StatsAverages = PoolStats;

StatsAverages average(const PoolStats& before, const PoolStats& after, double seconds);

}  // namespace pooler::metrics
