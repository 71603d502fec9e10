// SHOW PEERS and SHOW PEER_POOLS: PgBouncer's peering tables, with its columns: the [peers]
// entries, and the cancels on their way to each.
#pragma once

#include "pooler/admin/result_table.hpp"
#include "pooler/admin/snapshot.hpp"

namespace pooler::admin {

ResultTable show_peers(const Snapshot& snap);
ResultTable show_peer_pools(const Snapshot& snap);

}  // namespace pooler::admin
