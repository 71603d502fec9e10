// The socket views reuse the SHOW CLIENTS and SHOW SERVERS tables, whose rows follow the
// snapshot's order, and add one cell per buffer column to each row.
#include "pooler/admin/socket_views.hpp"

#include <string>
#include <vector>

#include "pooler/admin/views.hpp"

namespace pooler::admin {

namespace {

// PgBouncer's sbuf columns. pooler has no fixed packet buffer: recv_pos is what it holds from the
// socket, send_remain what is queued to it; the packet positions have no counterpart and stay 0.
constexpr const char* kBufferColumns[] = {"recv_pos",    "pkt_pos",   "pkt_remain", "send_pos",
                                          "send_remain", "pkt_avail", "send_avail"};

void add_buffer_cells(std::vector<Cell>& row, const ConnectionView& v) {
  const std::int64_t values[] = {v.recv_pos, 0, 0, 0, v.send_remain, 0, 0};
  for (std::int64_t value : values) {
    row.push_back(std::to_string(value));
  }
}

}  // namespace

ResultTable show_sockets(const Snapshot& snap) {
  ResultTable table = show_clients(snap);
  for (auto& row : show_servers(snap).rows) {
    table.rows.push_back(std::move(row));
  }
  for (const char* name : kBufferColumns) {
    table.columns.push_back({name, ColumnType::kInt4});
  }
  const std::size_t clients = snap.clients.size();
  for (std::size_t i = 0; i < table.rows.size(); ++i) {
    add_buffer_cells(table.rows[i], i < clients ? snap.clients[i] : snap.servers[i - clients]);
  }
  return table;
}

ResultTable show_active_sockets(const Snapshot& snap) {
  Snapshot active = snap;
  std::erase_if(active.clients, [](const ConnectionView& v) { return !v.in_flight; });
  std::erase_if(active.servers, [](const ConnectionView& v) { return !v.in_flight; });
  return show_sockets(active);
}

}  // namespace pooler::admin
