// SHOW SOCKETS and SHOW ACTIVE_SOCKETS: the SHOW CLIENTS and SERVERS rows plus buffer columns.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pooler/admin/socket_views.hpp"
#include "pooler/admin/views.hpp"

namespace {

using pooler::admin::ConnectionView;
using pooler::admin::ResultTable;
using pooler::admin::Snapshot;

ConnectionView connection(char type, std::uint64_t id, bool in_flight) {
  ConnectionView v;
  v.type = type;
  v.user = "api";
  v.database = "app";
  v.state = in_flight ? "active" : "idle";
  v.id = id;
  v.in_flight = in_flight;
  return v;
}

Snapshot snapshot() {
  Snapshot snap;
  snap.clients.push_back(connection('C', 1, false));
  snap.clients.push_back(connection('C', 2, true));
  snap.clients[1].recv_pos = 17;
  snap.clients[1].send_remain = 300000;
  snap.servers.push_back(connection('S', 3, true));
  snap.servers[0].send_remain = 42;
  snap.servers.push_back(connection('S', 4, false));
  return snap;
}

std::vector<std::string> names_of(const ResultTable& t) {
  std::vector<std::string> names;
  for (const auto& c : t.columns) {
    names.push_back(c.name);
  }
  return names;
}

// The cell of `column` in `row`.
std::string cell(const ResultTable& t, std::size_t row, const std::string& column) {
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name == column) {
      return t.rows.at(row).at(i).value_or("NULL");
    }
  }
  FAIL("no column " << column);
  return {};
}

}  // namespace

TEST_CASE("SHOW SOCKETS lists every client then every server with SHOW CLIENTS' columns first") {
  Snapshot snap = snapshot();
  ResultTable t = pooler::admin::show_sockets(snap);
  std::vector<std::string> expected = names_of(pooler::admin::show_clients(snap));
  for (const char* name : {"recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain",
                           "pkt_avail", "send_avail"}) {
    expected.push_back(name);
  }
  CHECK(names_of(t) == expected);
  REQUIRE(t.rows.size() == 4);
  for (const auto& row : t.rows) {
    CHECK(row.size() == t.columns.size());
  }
  CHECK(cell(t, 0, "type") == "C");
  CHECK(cell(t, 1, "id") == "2");
  CHECK(cell(t, 1, "recv_pos") == "17");
  CHECK(cell(t, 1, "send_remain") == "300000");
  CHECK(cell(t, 1, "pkt_avail") == "0");
  CHECK(cell(t, 2, "type") == "S");
  CHECK(cell(t, 2, "id") == "3");
  CHECK(cell(t, 2, "send_remain") == "42");
  CHECK(cell(t, 3, "send_remain") == "0");
  CHECK(t.columns.back().type == pooler::admin::ColumnType::kInt4);
}

TEST_CASE("SHOW ACTIVE_SOCKETS keeps only connections with something in flight") {
  ResultTable t = pooler::admin::show_active_sockets(snapshot());
  REQUIRE(t.rows.size() == 2);
  CHECK(cell(t, 0, "id") == "2");
  CHECK(cell(t, 0, "recv_pos") == "17");
  CHECK(cell(t, 1, "id") == "3");
  CHECK(cell(t, 1, "send_remain") == "42");
  CHECK(names_of(t) == names_of(pooler::admin::show_sockets(snapshot())));
}
