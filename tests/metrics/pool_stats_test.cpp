// Per-period averages of pool counters, as SHOW STATS and log_stats report them.
#include <doctest/doctest.h>

#include "pooler/metrics/pool_stats.hpp"

using pooler::metrics::PoolStats;

TEST_CASE("averages are per second for counts and bytes, per event for times") {
  PoolStats before;
  before.xact_count = 100;
  before.query_count = 200;
  before.bytes_received = 1000;
  before.xact_time_us = 5000;
  before.server_assignment_count = 100;
  PoolStats after = before;
  after.xact_count += 600;  // 10 per second over 60 s
  after.query_count += 1200;
  after.bytes_received += 6000;
  after.xact_time_us += 600 * 250;  // 250 us each
  after.query_time_us += 1200 * 100;
  after.server_assignment_count += 300;
  after.wait_time_us += 300 * 2000;

  auto avg = pooler::metrics::average(before, after, 60.0);
  CHECK(avg.xact_count == 10);
  CHECK(avg.query_count == 20);
  CHECK(avg.bytes_received == 100);
  CHECK(avg.xact_time_us == 250);
  CHECK(avg.query_time_us == 100);
  CHECK(avg.wait_time_us == 2000);
  CHECK(avg.server_assignment_count == 5);
}

TEST_CASE("a quiet period averages to zero rather than dividing by zero") {
  PoolStats same;
  same.xact_count = 7;
  same.xact_time_us = 70;
  auto avg = pooler::metrics::average(same, same, 60.0);
  CHECK(avg.xact_count == 0);
  CHECK(avg.xact_time_us == 0);
  CHECK(pooler::metrics::average(same, same, 0.0).xact_count == 0);
}

TEST_CASE("sums of pool stats add every field") {
  PoolStats a;
  a.bind_count = 2;
  a.client_login_count = 1;
  PoolStats b;
  b.bind_count = 3;
  b.bytes_sent = 9;
  a += b;
  CHECK(a.bind_count == 5);
  CHECK(a.client_login_count == 1);
  CHECK(a.bytes_sent == 9);
}
