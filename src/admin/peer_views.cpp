// The peering tables, column for column as PgBouncer 1.21+ shows them: one row per [peers]
// entry.
#include "pooler/admin/peer_views.hpp"

#include <string>

namespace pooler::admin {

using T = ColumnType;

ResultTable show_peers(const Snapshot& snap) {
  ResultTable t{
      {{"peer_id", T::kInt4}, {"host", T::kText}, {"port", T::kInt4}, {"pool_size", T::kInt4}},
      {}};
  for (const auto& [id, peer] : snap.config->peers) {
    int pool_size = peer.pool_size.value_or(snap.config->settings.default_pool_size);
    t.add_row(
        {std::to_string(id), peer.host, std::to_string(peer.port), std::to_string(pool_size)});
  }
  return t;
}

ResultTable show_peer_pools(const Snapshot& snap) {
  ResultTable t{{{"peer_id", T::kInt4},
                 {"cl_active_cancel_req", T::kInt4},
                 {"cl_waiting_cancel_req", T::kInt4},
                 {"sv_active_cancel", T::kInt4},
                 {"sv_login", T::kInt4}},
                {}};
  // A forwarded cancel is one connection to the peer, held until the peer closes it; none waits
  // (one over the peer's pool_size is dropped).
  for (const auto& [id, in_flight] : snap.peer_cancels_in_flight) {
    t.add_row({std::to_string(id), std::to_string(in_flight), "0", std::to_string(in_flight), "0"});
  }
  return t;
}

}  // namespace pooler::admin
