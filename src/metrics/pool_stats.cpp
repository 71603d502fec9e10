// Sums and per-period averages of pool counters.
#include "pooler/metrics/pool_stats.hpp"

namespace pooler::metrics {

PoolStats& PoolStats::operator+=(const PoolStats& o) {
  server_assignment_count += o.server_assignment_count;
  xact_count += o.xact_count;
  query_count += o.query_count;
  bytes_received += o.bytes_received;
  bytes_sent += o.bytes_sent;
  xact_time_us += o.xact_time_us;
  query_time_us += o.query_time_us;
  wait_time_us += o.wait_time_us;
  client_parse_count += o.client_parse_count;
  server_parse_count += o.server_parse_count;
  bind_count += o.bind_count;
  client_login_count += o.client_login_count;
  server_login_count += o.server_login_count;
  server_login_failures += o.server_login_failures;
  query_wait_timeouts += o.query_wait_timeouts;
  wait_histogram += o.wait_histogram;
  query_histogram += o.query_histogram;
  xact_histogram += o.xact_histogram;
  return *this;
}

namespace {

std::uint64_t delta(std::uint64_t before, std::uint64_t after) {
  // A pool's counters never go back, but a pool re-created by a reload starts again at zero.
  return after >= before ? after - before : after;
}

std::uint64_t per(std::uint64_t amount, double divisor) {
  return divisor > 0 ? static_cast<std::uint64_t>(static_cast<double>(amount) / divisor) : 0;
}

}  // namespace

StatsAverages average(const PoolStats& before, const PoolStats& after, double seconds) {
  StatsAverages avg;
  auto rate = [&](std::uint64_t PoolStats::*field) {
    return per(delta(before.*field, after.*field), seconds);
  };
  auto mean = [&](std::uint64_t PoolStats::*time, std::uint64_t PoolStats::*count) {
    return per(delta(before.*time, after.*time),
               static_cast<double>(delta(before.*count, after.*count)));
  };
  avg.server_assignment_count = rate(&PoolStats::server_assignment_count);
  avg.xact_count = rate(&PoolStats::xact_count);
  avg.query_count = rate(&PoolStats::query_count);
  avg.bytes_received = rate(&PoolStats::bytes_received);
  avg.bytes_sent = rate(&PoolStats::bytes_sent);
  avg.xact_time_us = mean(&PoolStats::xact_time_us, &PoolStats::xact_count);
  avg.query_time_us = mean(&PoolStats::query_time_us, &PoolStats::query_count);
  avg.wait_time_us = mean(&PoolStats::wait_time_us, &PoolStats::server_assignment_count);
  avg.client_parse_count = rate(&PoolStats::client_parse_count);
  avg.server_parse_count = rate(&PoolStats::server_parse_count);
  avg.bind_count = rate(&PoolStats::bind_count);
  avg.client_login_count = rate(&PoolStats::client_login_count);
  return avg;
}

}  // namespace pooler::metrics
