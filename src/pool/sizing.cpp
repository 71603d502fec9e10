// Sizing arithmetic for one pool.
#include "pooler/pool/sizing.hpp"

#include <algorithm>

namespace pooler::pool {

int servers_to_open(const PoolCounts& counts, int pool_size, const ConnectionBudget& database,
                    const ConnectionBudget& user) {
  // Servers being reset will come back to the pool and serve a waiter too.
  int uncovered = counts.waiting - counts.opening - counts.resetting;
  if (uncovered <= 0) return 0;
  int room = pool_size - counts.total();
  if (database.limit() > 0) room = std::min(room, database.limit() - database.used());
  if (user.limit() > 0) room = std::min(room, user.limit() - user.used());
  return std::max(0, std::min(uncovered, room));
}

}  // namespace pooler::pool
