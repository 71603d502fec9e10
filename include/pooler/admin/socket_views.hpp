// SHOW SOCKETS and SHOW ACTIVE_SOCKETS: the SHOW CLIENTS and SHOW SERVERS rows, clients first,
// with PgBouncer's socket buffer columns after them.
#pragma once

#include "pooler/admin/result_table.hpp"
#include "pooler/admin/snapshot.hpp"

namespace pooler::admin {

// Every client and server.
ResultTable show_sockets(const Snapshot& snap);
// Only those with something in flight: a request awaiting its answer (a client waiting for a
// server or using a busy one, a server running a request, logging in or resetting), or bytes
// the pooler holds for it in either direction. PgBouncer lists sockets with bytes in its buffers;
// pooler forwards bytes at once, so the requests still open are what is worth seeing.
ResultTable show_active_sockets(const Snapshot& snap);

}  // namespace pooler::admin
