// SHOW PEERS and SHOW PEER_POOLS: PgBouncer's peering tables, with its columns. pooler has no
// [peers] yet (a cancel that reaches another process is not forwarded to it), so both answer
// with no rows, which is what a PgBouncer without peers answers: exporters and scripts that
// ask keep working.
#pragma once

#include "pooler/admin/result_table.hpp"
#include "pooler/admin/snapshot.hpp"

namespace pooler::admin {

ResultTable show_peers(const Snapshot& snap);
ResultTable show_peer_pools(const Snapshot& snap);

}  // namespace pooler::admin
