// [databases], [users] and [peers] entries: libpq-style values, quoting, the '*' fallback, reserved names.
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

LoadResult parse_with_base(const std::string& sections) {
  return parse_config_text("[pooler]\nauth_type = trust\n" + sections, "entries.ini");
}

TEST_CASE("database entries take libpq-style values, quoted ones included") {
  LoadResult result = parse_with_base(
      "[databases]\n"
      "app = host=10.1.2.3 port=5433 dbname=app_prod user=svc password='it''s \\'secret\\'' "
      "pool_size=40 min_pool_size=2 reserve_pool=3 pool_mode=transaction max_db_connections=50 "
      "max_db_client_connections=500 server_lifetime=1800.5 query_wait_timeout=7 "
      "connect_query='SELECT 1; SET search_path = app' client_encoding=UTF8 datestyle=ISO "
      "timezone=UTC application_name=pooler auth_user=auth auth_dbname=postgres\n"
      "\"Mixed Case\" = host = /var/run/postgresql dbname=\"quoted\"\n");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  const DatabaseEntry& app = result.config.databases.at("app");
  CHECK(app.host == "10.1.2.3");
  CHECK(app.ports == std::vector<int>{5433});
  CHECK(app.dbname == "app_prod");
  CHECK(app.user == "svc");
  CHECK(app.password == "it's 'secret'");
  CHECK(app.pool_size == 40);
  CHECK(app.min_pool_size == 2);
  CHECK(app.reserve_pool_size == 3);
  CHECK(app.pool_mode == PoolMode::kTransaction);
  CHECK(app.max_db_connections == 50);
  CHECK(app.max_db_client_connections == 500);
  CHECK(app.server_lifetime == 1800.5);
  CHECK(app.query_wait_timeout == 7);
  CHECK(app.connect_query == "SELECT 1; SET search_path = app");
  CHECK(app.client_encoding == "UTF8");
  CHECK(app.datestyle == "ISO");
  CHECK(app.timezone == "UTC");
  CHECK(app.application_name == "pooler");
  CHECK(app.auth_user == "auth");
  CHECK(app.auth_dbname == "postgres");
  CHECK(app.line == 4);

  const DatabaseEntry& mixed = result.config.databases.at("Mixed Case");
  CHECK(mixed.host == "/var/run/postgresql");
  CHECK(mixed.dbname == "\"quoted\"");
  CHECK(mixed.ports == std::vector<int>{5432});
  CHECK_FALSE(mixed.pool_size.has_value());
}

TEST_CASE("find_database: exact name, else the '*' fallback named after the request") {
  LoadResult result = parse_with_base(
      "[databases]\n"
      "app = host=10.0.0.1 dbname=real_app\n"
      "plain = host=10.0.0.2\n"
      "* = host=10.0.0.9 port=5555 pool_size=3\n");
  INFO(render(result.diagnostics));
  REQUIRE(result.ok());
  const Config& config = result.config;

  std::optional<DatabaseEntry> app = config.find_database("app");
  REQUIRE(app);
  CHECK(app->dbname == "real_app");

  std::optional<DatabaseEntry> plain = config.find_database("plain");
  REQUIRE(plain);
  CHECK(plain->dbname == "plain");

  std::optional<DatabaseEntry> other = config.find_database("analytics");
  REQUIRE(other);
  CHECK(other->name == "analytics");
  CHECK(other->dbname == "analytics");
  CHECK(other->host == "10.0.0.9");
  CHECK(other->ports == std::vector<int>{5555});
  CHECK(other->pool_size == 3);
}

TEST_CASE("find_database without a fallback answers nothing for unknown names") {
  LoadResult result = parse_with_base("[databases]\napp = host=10.0.0.1\n");
  CHECK(result.config.find_database("app"));
  CHECK_FALSE(result.config.find_database("other"));
}

TEST_CASE("the admin console names are reserved") {
  for (std::string name : {"pgbouncer", "pooler", "\"pgbouncer\""}) {
    CAPTURE(name);
    LoadResult result = parse_with_base("[databases]\n" + name + " = host=10.0.0.1\n");
    Diagnostic d = only(result.diagnostics);
    CHECK(d.severity == Severity::kError);
    CHECK(d.line == 4);
    CHECK(d.message.find("reserved for the admin console") != std::string::npos);
    CHECK(result.config.databases.empty());
  }
}

TEST_CASE("an unknown parameter in a database entry is an error naming it") {
  Diagnostic d = only(parse_with_base("[databases]\napp = host=x colour=blue\n").diagnostics);
  CHECK(d.severity == Severity::kError);
  CHECK(d.key == "app");
  CHECK(d.line == 4);
  CHECK(d.message == "unknown parameter 'colour' in database entry");
}

TEST_CASE("bad numbers in a database entry are errors naming the parameter") {
  LoadResult result = parse_with_base(
      "[databases]\n"
      "a = port=fivefourthreetwo\n"
      "b = pool_size=-1\n"
      "c = pool_mode=sometimes\n"
      "d = port=70000\n");
  REQUIRE(result.diagnostics.size() == 4);
  CHECK(format(result.diagnostics[0]) ==
        "entries.ini:4: error: a: port: expected an integer, got 'fivefourthreetwo'");
  CHECK(result.diagnostics[1].message == "pool_size: must be at least 0, got '-1'");
  CHECK(result.diagnostics[2].line == 6);
  CHECK(result.diagnostics[3].message == "port: must be between 1 and 65535, got '70000'");
  CHECK(result.config.databases.empty());
}

TEST_CASE("query_wait_timeout=-1 in a database entry means use the global value") {
  LoadResult result = parse_with_base("[databases]\napp = query_wait_timeout=-1\n");
  REQUIRE(result.ok());
  CHECK_FALSE(result.config.databases.at("app").query_wait_timeout.has_value());
}

TEST_CASE("a malformed entry never quotes the password") {
  LoadResult result = parse_with_base(
      "[databases]\n"
      "a = host=x password='hunter2-unterminated\n"
      "b = host=x password=hunter3 port=bad\n"
      "c = host=x password=hunter4 with blanksword\n"
      "d = hunter5\n");
  std::string text = render(result.diagnostics);
  REQUIRE(result.diagnostics.size() == 4);
  CHECK(text.find("hunter") == std::string::npos);
  CHECK(text.find("blanksword") == std::string::npos);
  CHECK(result.diagnostics[0].message == "unterminated quoted value for 'password'");
  CHECK(result.diagnostics[2].message ==
        "expected key=value after the value of 'password' (quote values that contain spaces)");
  CHECK(result.diagnostics[3].message == "expected key=value pairs");
}

TEST_CASE("a database defined twice warns and the later definition wins") {
  LoadResult result = parse_with_base("[databases]\napp = port=1111\napp = port=2222\n");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kWarning);
  CHECK(d.line == 5);
  CHECK(d.message.find("entries.ini:4") != std::string::npos);
  CHECK(result.config.databases.at("app").ports == std::vector<int>{2222});
}

TEST_CASE("a host list pairs each host with its port, or with the one port given") {
  LoadResult result = parse_with_base(
      "[databases]\n"
      "pair = host=10.0.0.1,10.0.0.2 port=5432,5433 load_balance_hosts=disable\n"
      "shared = host='db1.example, db2.example,/var/run/postgresql' port=6000\n"
      "single = host=10.0.0.3\n"
      "socket = port=5999\n");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  const auto& dbs = result.config.databases;
  CHECK(dbs.at("pair").servers() ==
        std::vector<HostPort>{{"10.0.0.1", 5432}, {"10.0.0.2", 5433}});
  CHECK(dbs.at("pair").load_balance_hosts == "disable");
  CHECK(dbs.at("pair").has_host_list());
  CHECK(dbs.at("shared").servers() == std::vector<HostPort>{{"db1.example", 6000},
                                                            {"db2.example", 6000},
                                                            {"/var/run/postgresql", 6000}});
  CHECK(dbs.at("single").servers() == std::vector<HostPort>{{"10.0.0.3", 5432}});
  CHECK_FALSE(dbs.at("single").has_host_list());
  CHECK(dbs.at("socket").servers() == std::vector<HostPort>{{"", 5999}});
}

TEST_CASE("a port list of another length than the host list is an error naming port") {
  LoadResult result = parse_with_base(
      "[databases]\n"
      "three = host=a,b,c port=1,2\n"
      "one = host=a port=1,2\n"
      "hole = host=a,,c\n"
      "badport = host=a,b port=1,x\n"
      "good = host=a,b port=1,2\n");
  REQUIRE(result.diagnostics.size() == 4);
  CHECK(result.diagnostics[0].key == "three");
  CHECK(result.diagnostics[0].message ==
        "port: 2 ports for 3 hosts; give one port for all hosts, or one per host");
  CHECK(result.diagnostics[1].message ==
        "port: 2 ports for 1 host; give one port for all hosts, or one per host");
  CHECK(result.diagnostics[2].message == "host: an empty item in the host list");
  CHECK(result.diagnostics[3].key == "badport");
  CHECK(result.diagnostics[3].message.find("port: ") == 0);
  CHECK_FALSE(result.ok());
  CHECK(result.config.databases.count("three") == 0);
  CHECK(result.config.databases.count("good") == 1);
}

TEST_CASE("user entries carry per-user pool settings") {
  LoadResult result = parse_with_base(
      "[users]\n"
      "report = pool_mode=session pool_size=4 reserve_pool_size=1 max_user_connections=10 "
      "max_user_client_connections=100 query_timeout=30 query_wait_timeout=5 "
      "idle_transaction_timeout=60 transaction_timeout=120 client_idle_timeout=900\n"
      "\"app user\" = pool_mode=statement\n");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  const UserEntry* report = result.config.find_user("report");
  REQUIRE(report != nullptr);
  CHECK(report->pool_mode == PoolMode::kSession);
  CHECK(report->pool_size == 4);
  CHECK(report->reserve_pool_size == 1);
  CHECK(report->max_user_connections == 10);
  CHECK(report->max_user_client_connections == 100);
  CHECK(report->query_timeout == 30);
  CHECK(report->query_wait_timeout == 5);
  CHECK(report->idle_transaction_timeout == 60);
  CHECK(report->transaction_timeout == 120);
  CHECK(report->client_idle_timeout == 900);
  CHECK(report->line == 4);
  REQUIRE(result.config.find_user("app user") != nullptr);
  CHECK(result.config.find_user("app user")->pool_mode == PoolMode::kStatement);
  CHECK(result.config.find_user("nobody") == nullptr);
}

TEST_CASE("a user entry rejects database-only parameters and bad durations") {
  LoadResult result = parse_with_base("[users]\nbob = host=10.0.0.1\ncarol = query_timeout=soon\n");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.diagnostics[0].message == "unknown parameter 'host' in user entry");
  CHECK(result.diagnostics[1].key == "carol");
  CHECK(result.diagnostics[1].message.find("query_timeout: expected a duration") == 0);
  CHECK(result.config.users.empty());
}

TEST_CASE("peer entries name the other poolers by id, as PgBouncer's [peers]") {
  LoadResult result = parse_with_base(
      "[peers]\n"
      "1 = host=10.0.0.1\n"
      "2 = host=/var/run/pooler port=6433 pool_size=5\n");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  REQUIRE(result.config.peers.size() == 2);
  const PeerEntry& first = result.config.peers.at(1);
  CHECK(first.host == "10.0.0.1");
  CHECK(first.port == 6432);
  CHECK_FALSE(first.pool_size.has_value());
  CHECK(first.line == 4);
  const PeerEntry& second = result.config.peers.at(2);
  CHECK(second.host == "/var/run/pooler");
  CHECK(second.port == 6433);
  CHECK(second.pool_size == 5);
}

TEST_CASE("a peer entry needs an id from 1 to 16383 and a host") {
  LoadResult result = parse_with_base(
      "[peers]\n"
      "0 = host=a\n"
      "16384 = host=b\n"
      "x = host=c\n"
      "3 = port=6432\n"
      "4 = host=d dbname=app\n");
  REQUIRE(result.diagnostics.size() == 5);
  for (const Diagnostic& d : result.diagnostics) CHECK(d.severity == Severity::kError);
  CHECK(result.diagnostics[0].message.rfind("peer id: ", 0) == 0);
  CHECK(result.diagnostics[1].message.rfind("peer id: ", 0) == 0);
  CHECK(result.diagnostics[2].message.rfind("peer id: ", 0) == 0);
  CHECK(result.diagnostics[3].message == "host: a peer needs a host (an address, a name or /path)");
  CHECK(result.diagnostics[4].message == "unknown parameter 'dbname' in peer entry");
  CHECK(result.config.peers.empty());
}

}  // namespace
}  // namespace pooler::config
