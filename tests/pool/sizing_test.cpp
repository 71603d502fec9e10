// Pool sizing with plain numbers: how many servers to open for the clients waiting, within the
// pool size and the shared database and user budgets.
#include "pooler/pool/sizing.hpp"

#include <doctest/doctest.h>

#include "pooler/pool/connection_budget.hpp"

using pooler::pool::ConnectionBudget;
using pooler::pool::PoolCounts;
using pooler::pool::servers_to_open;

namespace {

ConnectionBudget budget(int limit, int used) {
  ConnectionBudget b;
  b.set_limit(limit);
  for (int i = 0; i < used; ++i) {
    b.take();
  }
  return b;
}

const ConnectionBudget kUnlimited;

}  // namespace

TEST_CASE("no waiting clients means no new servers") {
  CHECK(servers_to_open(PoolCounts{}, 20, kUnlimited, kUnlimited) == 0);
  CHECK(servers_to_open(PoolCounts{.idle = 2}, 20, kUnlimited, kUnlimited) == 0);
}

TEST_CASE("one server is opened per waiting client while the pool has room") {
  CHECK(servers_to_open(PoolCounts{.waiting = 3}, 20, kUnlimited, kUnlimited) == 3);
  CHECK(servers_to_open(PoolCounts{.active = 5, .waiting = 2}, 20, kUnlimited, kUnlimited) == 2);
}

TEST_CASE("the pool size caps the servers opened") {
  CHECK(servers_to_open(PoolCounts{.waiting = 10}, 4, kUnlimited, kUnlimited) == 4);
  CHECK(servers_to_open(PoolCounts{.active = 3, .waiting = 10}, 4, kUnlimited, kUnlimited) == 1);
  CHECK(servers_to_open(PoolCounts{.active = 4, .waiting = 10}, 4, kUnlimited, kUnlimited) == 0);
}

TEST_CASE("every server state counts against the pool size") {
  PoolCounts counts{.idle = 1, .active = 1, .opening = 1, .resetting = 1, .waiting = 10};
  CHECK(counts.total() == 4);
  CHECK(servers_to_open(counts, 5, kUnlimited, kUnlimited) == 1);
}

TEST_CASE("servers already opening count as coverage for waiting clients") {
  CHECK(servers_to_open(PoolCounts{.opening = 2, .waiting = 3}, 20, kUnlimited, kUnlimited) == 1);
  CHECK(servers_to_open(PoolCounts{.opening = 3, .waiting = 3}, 20, kUnlimited, kUnlimited) == 0);
}

TEST_CASE("servers being reset count as coverage for waiting clients") {
  CHECK(servers_to_open(PoolCounts{.resetting = 1, .waiting = 3}, 20, kUnlimited, kUnlimited) == 2);
  CHECK(servers_to_open(PoolCounts{.opening = 1, .resetting = 2, .waiting = 3}, 20, kUnlimited,
                        kUnlimited) == 0);
}

TEST_CASE("the database budget caps the servers opened") {
  CHECK(servers_to_open(PoolCounts{.waiting = 10}, 20, budget(4, 1), kUnlimited) == 3);
  CHECK(servers_to_open(PoolCounts{.waiting = 10}, 20, budget(4, 4), kUnlimited) == 0);
}

TEST_CASE("the user budget caps the servers opened") {
  CHECK(servers_to_open(PoolCounts{.waiting = 10}, 20, kUnlimited, budget(3, 1)) == 2);
  CHECK(servers_to_open(PoolCounts{.waiting = 10}, 20, kUnlimited, budget(3, 3)) == 0);
}

TEST_CASE("the tightest of pool size, database and user budgets wins") {
  PoolCounts counts{.waiting = 10};
  CHECK(servers_to_open(counts, 6, budget(5, 0), budget(4, 0)) == 4);
  CHECK(servers_to_open(counts, 6, budget(3, 0), budget(4, 0)) == 3);
  CHECK(servers_to_open(counts, 2, budget(3, 0), budget(4, 0)) == 2);
}

TEST_CASE("a budget limit of 0 is unlimited however much is used") {
  CHECK(servers_to_open(PoolCounts{.waiting = 7}, 20, budget(0, 500), budget(0, 500)) == 7);
}

TEST_CASE("servers_to_open is never negative, even over every limit") {
  // After a reload shrinks pool_size, or budgets drawn down by other pools.
  CHECK(servers_to_open(PoolCounts{.active = 8, .waiting = 3}, 4, kUnlimited, kUnlimited) == 0);
  CHECK(servers_to_open(PoolCounts{.waiting = 3}, 20, budget(2, 5), kUnlimited) == 0);
  CHECK(servers_to_open(PoolCounts{.waiting = 3}, 20, kUnlimited, budget(1, 4)) == 0);
  CHECK(servers_to_open(PoolCounts{.opening = 5, .waiting = 1}, 20, kUnlimited, kUnlimited) == 0);
  CHECK(servers_to_open(PoolCounts{.waiting = 3}, 0, kUnlimited, kUnlimited) == 0);
}

TEST_CASE("a connection budget can be taken up to its limit and never goes below zero") {
  ConnectionBudget b;
  b.set_limit(2);
  CHECK(b.can_take());
  b.take();
  b.take();
  CHECK_FALSE(b.can_take());
  CHECK(b.used() == 2);
  b.give_back();
  CHECK(b.can_take());
  b.give_back();
  b.give_back();
  CHECK(b.used() == 0);
  b.set_limit(0);
  for (int i = 0; i < 100; ++i) {
    b.take();
  }
  CHECK(b.can_take());
}
