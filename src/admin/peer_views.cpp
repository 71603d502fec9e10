// The peering tables, column for column as PgBouncer 1.21+ shows them.
#include "pooler/admin/peer_views.hpp"

namespace pooler::admin {

using T = ColumnType;

ResultTable show_peers(const Snapshot&) {
  return {{{"peer_id", T::kInt4}, {"host", T::kText}, {"port", T::kInt4}, {"pool_size", T::kInt4}},
          {}};
}

ResultTable show_peer_pools(const Snapshot&) {
  return {{{"peer_id", T::kInt4},
           {"cl_active_cancel_req", T::kInt4},
           {"cl_waiting_cancel_req", T::kInt4},
           {"sv_active_cancel", T::kInt4},
           {"sv_login", T::kInt4}},
          {}};
}

}  // namespace pooler::admin
