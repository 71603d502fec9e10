// can_forget: the condition under which the registry may destroy a pool.
#include "pooler/pool/pool_removal.hpp"

namespace pooler::pool {

bool can_forget(const Pool& pool) {
  if (pool.clients() > 0) return false;
  PoolCounts c = pool.counts();
  return c.waiting == 0 && c.active == 0 && c.resetting == 0 && c.being_canceled == 0 &&
         c.cancel_requests_waiting == 0 && c.cancel_requests_active == 0 &&
         c.cancel_connections == 0;
}

}  // namespace pooler::pool
