// SHOW DATABASES as PgBouncer shows it with a "*" entry: each auto-database in use is a row with
// the "*" entry's settings, and the "*" template itself is no row; SHOW LISTS counts the same.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pooler/admin/views.hpp"

namespace {

using pooler::admin::Cell;
using pooler::admin::ResultTable;
using pooler::admin::Snapshot;

Cell column(const ResultTable& t, std::size_t row, const std::string& name) {
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].name == name) return t.rows.at(row).at(i);
  }
  FAIL("no column " << name);
  return std::nullopt;
}

Snapshot with_fallback() {
  Snapshot snap;
  auto config = std::make_shared<pooler::config::Config>();
  pooler::config::DatabaseEntry fallback;
  fallback.name = "*";
  fallback.host = "10.0.0.9";
  fallback.ports = {5555};
  fallback.user = "app";
  fallback.pool_size = 3;
  config->databases["*"] = fallback;
  pooler::config::DatabaseEntry listed;
  listed.name = "listed";
  listed.host = "10.0.0.1";
  listed.dbname = "real";
  config->databases["listed"] = listed;
  snap.config = config;
  return snap;
}

}  // namespace

TEST_CASE("SHOW DATABASES lists auto-databases with the \"*\" settings and not \"*\" itself") {
  Snapshot snap = with_fallback();
  snap.auto_databases = {"reports", "billing"};
  snap.disabled_databases = {"reports"};
  ResultTable t = pooler::admin::show_databases(snap);
  REQUIRE(t.rows.size() == 3);
  CHECK(column(t, 0, "name") == Cell("billing"));
  CHECK(column(t, 1, "name") == Cell("listed"));
  CHECK(column(t, 2, "name") == Cell("reports"));
  CHECK(column(t, 2, "host") == Cell("10.0.0.9"));
  CHECK(column(t, 2, "port") == Cell("5555"));
  CHECK(column(t, 2, "database") == Cell("reports"));
  CHECK(column(t, 2, "force_user") == Cell("app"));
  CHECK(column(t, 2, "pool_size") == Cell("3"));
  CHECK(column(t, 2, "disabled") == Cell("1"));
  CHECK(column(t, 0, "disabled") == Cell("0"));
  CHECK(column(t, 1, "database") == Cell("real"));
  CHECK(column(t, 1, "force_user") == std::nullopt);
}

TEST_CASE("SHOW LISTS counts the databases SHOW DATABASES lists") {
  Snapshot snap = with_fallback();
  snap.auto_databases = {"reports"};
  ResultTable t = pooler::admin::show_lists(snap);
  bool found = false;
  for (const auto& row : t.rows) {
    if (row[0] == Cell("databases")) {
      CHECK(row[1] == Cell("2"));
      found = true;
    }
  }
  CHECK(found);
}
