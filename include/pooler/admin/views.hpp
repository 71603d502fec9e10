// Views: pure functions from a Snapshot to a console table, one per SHOW command, with
// PgBouncer's column names, order and types (see shared/reference/pgbouncer-compat.md).
#pragma once

#include "pooler/admin/result_table.hpp"
#include "pooler/admin/snapshot.hpp"

namespace pooler::admin {

ResultTable show_pools(const Snapshot& snap);
ResultTable show_clients(const Snapshot& snap);
ResultTable show_servers(const Snapshot& snap);
ResultTable show_databases(const Snapshot& snap);
ResultTable show_users(const Snapshot& snap);
ResultTable show_config(const Snapshot& snap);
ResultTable show_state(const Snapshot& snap);
ResultTable show_lists(const Snapshot& snap);
ResultTable show_version(const Snapshot& snap);
ResultTable show_stats(const Snapshot& snap);
ResultTable show_stats_totals(const Snapshot& snap);
ResultTable show_stats_averages(const Snapshot& snap);
ResultTable show_totals(const Snapshot& snap);
ResultTable show_mem(const Snapshot& snap);
ResultTable show_dns_hosts(const Snapshot& snap);
ResultTable show_dns_zones(const Snapshot& snap);
// pooler's own: the saturation alerts firing now.
ResultTable show_alerts(const Snapshot& snap);

// "2008-11-07 11:56:46 GMT", PgBouncer's console timestamp form.
std::string format_time(WallTime time);

}  // namespace pooler::admin
