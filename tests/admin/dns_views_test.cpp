// The console's views of host lists and the DNS cache: SHOW DNS_HOSTS, DNS_ZONES, the
// load_balance_hosts columns (NULL unless the host is a list, as PgBouncer) and SHOW LISTS.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pooler/admin/views.hpp"

namespace {

using pooler::admin::Cell;
using pooler::admin::ColumnType;
using pooler::admin::ResultTable;
using pooler::admin::Snapshot;

Cell column(const ResultTable& t, std::size_t row, const std::string& name) {
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name == name)
      return t.rows.at(row).at(i);
  }
  FAIL("no column " << name);
  return std::nullopt;
}

Snapshot with_databases() {
  Snapshot snap;
  auto config = std::make_shared<pooler::config::Config>();
  pooler::config::DatabaseEntry listed;
  listed.name = "listed";
  listed.host = "10.0.0.1,10.0.0.2";
  listed.ports = {5432, 5433};
  listed.load_balance_hosts = "disable";
  config->databases["listed"] = listed;
  pooler::config::DatabaseEntry single;
  single.name = "single";
  single.host = "db.example";
  config->databases["single"] = single;
  snap.config = config;
  return snap;
}

}  // namespace

TEST_CASE("SHOW DNS_HOSTS lists each cached name with its ttl and addresses") {
  Snapshot snap;
  snap.dns_hosts = {{"db.example", 12, "10.0.0.1,10.0.0.2"}, {"gone.example", 0, ""}};
  ResultTable t = pooler::admin::show_dns_hosts(snap);
  REQUIRE(t.columns.size() == 3);
  CHECK(t.columns[0].name == "hostname");
  CHECK(t.columns[1].name == "ttl");
  CHECK(t.columns[1].type == ColumnType::kInt8);
  CHECK(t.columns[2].name == "addrs");
  REQUIRE(t.rows.size() == 2);
  CHECK(t.rows[0] == std::vector<Cell>{"db.example", "12", "10.0.0.1,10.0.0.2"});
  CHECK(t.rows[1] == std::vector<Cell>{"gone.example", "0", ""});
}

TEST_CASE("SHOW DNS_ZONES has PgBouncer's columns and no rows") {
  ResultTable t = pooler::admin::show_dns_zones(Snapshot{});
  REQUIRE(t.columns.size() == 3);
  CHECK(t.columns[0].name == "zonename");
  CHECK(t.columns[1].type == ColumnType::kInt8);
  CHECK(t.columns[2].name == "count");
  CHECK(t.rows.empty());
}

TEST_CASE("SHOW DATABASES shows load_balance_hosts only for a host list") {
  ResultTable t = pooler::admin::show_databases(with_databases());
  REQUIRE(t.rows.size() == 2);
  CHECK(column(t, 0, "host") == Cell("10.0.0.1,10.0.0.2"));
  CHECK(column(t, 0, "port") == Cell("5432"));
  CHECK(column(t, 0, "load_balance_hosts") == Cell("disable"));
  CHECK(column(t, 1, "host") == Cell("db.example"));
  CHECK(column(t, 1, "load_balance_hosts") == std::nullopt);
}

TEST_CASE("SHOW POOLS shows the pool's load_balance_hosts, NULL when it has one host") {
  Snapshot snap = with_databases();
  snap.pools.resize(2);
  snap.pools[0].database = "listed";
  snap.pools[0].load_balance_hosts = "round-robin";
  snap.pools[1].database = "single";
  ResultTable t = pooler::admin::show_pools(snap);
  CHECK(column(t, 0, "load_balance_hosts") == Cell("round-robin"));
  CHECK(column(t, 1, "load_balance_hosts") == std::nullopt);
}

TEST_CASE("SHOW LISTS counts the DNS names and the lookups in flight") {
  Snapshot snap = with_databases();
  snap.dns_hosts = {{"a.example", 3, "10.0.0.1"}, {"b.example", 0, ""}};
  snap.dns_queries = 1;
  snap.dns_pending = 4;
  ResultTable t = pooler::admin::show_lists(snap);
  auto items = [&](const std::string& list) -> Cell {
    for (const auto& row : t.rows) {
      if (row[0] == Cell(list))
        return row[1];
    }
    return std::nullopt;
  };
  CHECK(items("dns_names") == Cell("2"));
  CHECK(items("dns_zones") == Cell("0"));
  CHECK(items("dns_queries") == Cell("1"));
  CHECK(items("dns_pending") == Cell("4"));
}
