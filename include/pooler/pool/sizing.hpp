// Pure sizing decisions: whether a pool may open another server, given its own counts and the
// shared database and user budgets. Kept free of I/O so it is tested with plain numbers.
#pragma once

#include "pooler/pool/connection_budget.hpp"

namespace pooler::pool {

struct PoolCounts {
  int idle = 0;
  int active = 0;
  int opening = 0;  // connecting or logging in
  int resetting = 0;
  int being_canceled = 0;  // done, but a cancel for them is still in flight
  int waiting = 0;         // clients queued
  // Cancels in flight for this pool's servers (SHOW POOLS' *_cancel* columns).
  int cancel_requests_waiting = 0;
  int cancel_requests_active = 0;
  int cancel_connections = 0;
  int total() const { return idle + active + opening + resetting + being_canceled; }
};

// How many servers to start now so that queued clients will be served: never more than the
// clients still without a server on the way, the pool size, or the shared budgets allow.
int servers_to_open(const PoolCounts& counts, int pool_size, const ConnectionBudget& database,
                    const ConnectionBudget& user);

}  // namespace pooler::pool
