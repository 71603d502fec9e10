// The admin console's command table, views and protocol handling, without sockets.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fake_controls.hpp"
#include "pooler/admin/console.hpp"
#include "pooler/admin/views.hpp"
#include "pooler/frontend/console_session.hpp"
#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/framer.hpp"

namespace {

using pooler::admin::Console;
using pooler::admin::Snapshot;
using pooler::frontend::ConsoleRole;
using pooler::frontend::ConsoleSession;

struct Message {
  char type;
  std::string body;
};

std::vector<Message> messages_of(const std::string& bytes) {
  std::vector<Message> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    auto frame = pooler::protocol::frame_typed(pooler::util::as_bytes(bytes).subspan(at), 1 << 20);
    REQUIRE(frame.complete());
    out.push_back({frame.type, std::string(pooler::util::as_chars(frame.body))});
    at += frame.size;
  }
  return out;
}

// Column names of a RowDescription body.
std::vector<std::string> column_names(const std::string& body) {
  std::vector<std::string> names;
  pooler::util::ByteReader r(pooler::util::as_bytes(body));
  auto count = r.i16();
  for (int i = 0; i < *count; ++i) {
    names.emplace_back(*r.cstring());
    r.bytes(18);
  }
  return names;
}

// A pool to show; PAUSE completes once `servers_released`; client 404 does not exist.
struct Fixture {
  Fixture() {
    pooler::admin::PoolView pool;
    pool.database = "app";
    pool.user = "api";
    pool.cl_waiting = 3;
    pool.maxwait_us = 2500000;
    pool.pool_mode = "transaction";
    controls.snap.pools.push_back(pool);
    controls.pause_done = [this] { return servers_released; };
    controls.unknown_client = 404;
  }
  pooler::testing::FakeControls controls;
  bool servers_released = false;
  Console console{controls, "0.1.0"};
  int reloads() const {
    return static_cast<int>(std::count(controls.calls.begin(), controls.calls.end(), "reload"));
  }
  std::string run(const std::string& sql, ConsoleRole role = ConsoleRole::kAdmin) {
    return console.execute(sql, role).messages;
  }
};

std::string sqlstate_of(const std::string& bytes) {
  auto msgs = messages_of(bytes);
  REQUIRE(msgs.size() == 1);
  REQUIRE(msgs[0].type == 'E');
  return pooler::protocol::parse_error_fields(pooler::util::as_bytes(msgs[0].body)).sqlstate;
}

}  // namespace

TEST_CASE("SHOW POOLS answers PgBouncer's columns in PgBouncer's order with live values") {
  Fixture f;
  auto msgs = messages_of(f.run("show pools;", ConsoleRole::kStats));
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].type == 'T');
  CHECK(column_names(msgs[0].body) ==
        std::vector<std::string>{"database", "user", "cl_active", "cl_waiting",
                                 "cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active",
                                 "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
                                 "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode",
                                 "load_balance_hosts"});
  CHECK(msgs[1].type == 'D');
  CHECK(msgs[1].body.find("transaction") != std::string::npos);
  CHECK(msgs[2].type == 'C');
  CHECK(msgs[2].body == std::string("SHOW\0", 5));
}

TEST_CASE("a stats user may SHOW but not RELOAD") {
  Fixture f;
  auto msgs = messages_of(f.run("RELOAD", ConsoleRole::kStats));
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].type == 'E');
  CHECK(pooler::protocol::parse_error_fields(pooler::util::as_bytes(msgs[0].body)).sqlstate ==
        "42501");
  CHECK(f.reloads() == 0);
  messages_of(f.run("reload"));
  CHECK(f.reloads() == 1);
}

TEST_CASE("an unknown console command is an ERROR, not a disconnect") {
  Fixture f;
  auto msgs = messages_of(f.run("DROP TABLE x"));
  REQUIRE(msgs.size() == 1);
  auto fields = pooler::protocol::parse_error_fields(pooler::util::as_bytes(msgs[0].body));
  CHECK(fields.severity == "ERROR");
  CHECK(fields.sqlstate == "42601");
}

TEST_CASE("the console answers the extended protocol that drivers use") {
  Fixture f;
  ConsoleSession session(f.console, ConsoleRole::kAdmin);
  bool terminate = false;
  auto send = [&](char type, const std::string& body) {
    return messages_of(session.handle(type, pooler::util::as_bytes(body), terminate));
  };
  CHECK(send('P', std::string("\0SHOW VERSION\0\0\0", 16))[0].type == '1');
  CHECK(send('B', std::string("\0\0\0\0\0\0\0\0", 8))[0].type == '2');
  auto described = send('D', std::string("P\0", 2));
  REQUIRE(described.size() == 1);
  CHECK(column_names(described[0].body) == std::vector<std::string>{"version"});
  auto executed = send('E', std::string("\0\0\0\0\0", 5));
  REQUIRE(executed.size() == 2);
  CHECK(executed[0].type == 'D');
  CHECK(executed[1].type == 'C');
  auto synced = send('S', "");
  REQUIRE(synced.size() == 1);
  CHECK(synced[0].type == 'Z');
  send('X', "");
  CHECK(terminate);
}

TEST_CASE("console timestamps use PgBouncer's form") {
  auto t = std::chrono::system_clock::from_time_t(1226058406);  // 2008-11-07 11:46:46 UTC
  CHECK(pooler::admin::format_time(t) == "2008-11-07 11:46:46 GMT");
}

namespace {

// Column names of a view, for comparing with PgBouncer's lists.
std::vector<std::string> names_of(const pooler::admin::ResultTable& t) {
  std::vector<std::string> names;
  for (const auto& c : t.columns) names.push_back(c.name);
  return names;
}

Snapshot snapshot_with_stats() {
  Snapshot snap;
  pooler::admin::DatabaseStats db;
  db.database = "app";
  db.totals.xact_count = 42;
  db.totals.bytes_received = 1234;
  db.averages.xact_time_us = 250;
  db.averages.bind_count = 3;
  snap.stats.push_back(db);
  return snap;
}

}  // namespace

TEST_CASE("SHOW STATS has PgBouncer's columns in stats.c order with totals then averages") {
  auto t = pooler::admin::show_stats(snapshot_with_stats());
  CHECK(names_of(t) ==
        std::vector<std::string>{
            "database", "total_server_assignment_count", "total_xact_count", "total_query_count",
            "total_received", "total_sent", "total_xact_time", "total_query_time",
            "total_wait_time", "total_client_parse_count", "total_server_parse_count",
            "total_bind_count", "total_client_login_count", "avg_server_assignment_count",
            "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time",
            "avg_query_time", "avg_wait_time", "avg_client_parse_count", "avg_server_parse_count",
            "avg_bind_count", "avg_client_login_count"});
  REQUIRE(t.rows.size() == 1);
  CHECK(t.rows[0][0] == "app");
  CHECK(t.rows[0][2] == "42");
  CHECK(t.rows[0][4] == "1234");
  CHECK(t.rows[0][18] == "250");  // avg_xact_time
  CHECK(t.columns[1].type == pooler::admin::ColumnType::kNumeric);
}

TEST_CASE("SHOW STATS_TOTALS and STATS_AVERAGES keep PgBouncer's naming quirk") {
  auto snap = snapshot_with_stats();
  CHECK(names_of(pooler::admin::show_stats_totals(snap)) ==
        std::vector<std::string>{"database", "server_assignment_count", "xact_count",
                                 "query_count", "bytes_received", "bytes_sent", "xact_time",
                                 "query_time", "wait_time", "client_parse_count",
                                 "server_parse_count", "bind_count", "client_login_count"});
  auto averages = pooler::admin::show_stats_averages(snap);
  CHECK(names_of(averages) ==
        std::vector<std::string>{"database", "server_assignment_count", "xact_count",
                                 "query_count", "bytes_received", "bytes_sent", "xact_time",
                                 "query_time", "wait_time", "avg_client_parse_count",
                                 "avg_server_parse_count", "avg_bind_count",
                                 "avg_client_login_count"});
  CHECK(averages.rows[0][11] == "3");
}

TEST_CASE("SHOW TOTALS lists every total and average by its internal name") {
  auto t = pooler::admin::show_totals(snapshot_with_stats());
  REQUIRE(t.rows.size() == 24);
  CHECK(t.rows[1][0] == "total_xact_count");
  CHECK(t.rows[1][1] == "42");
  CHECK(t.rows[3][0] == "total_client_bytes");
  CHECK(t.rows[12 + 10][0] == "avg_ps_bind_count");
  CHECK(t.rows[12 + 10][1] == "3");
}

TEST_CASE("control commands reach the controls with their case-sensitive database names") {
  Fixture f;
  for (const char* sql : {"resume MyDb", "DISABLE MyDb", "enable MyDb;", "KILL", "kill app",
                          "RECONNECT", "wait_close app", "KILL_CLIENT 17",
                          "SHUTDOWN WAIT_FOR_CLIENTS", "shutdown drain",
                          "set default_pool_size = 40",
                          "SET server_reset_query TO 'DISCARD ALL' ; ", "suspend"}) {
    auto msgs = messages_of(f.run(sql));
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == 'C');
  }
  CHECK(f.controls.calls ==
        std::vector<std::string>{"resume MyDb", "disable MyDb", "enable MyDb", "kill *",
                                 "kill app", "reconnect *", "wait_close app", "kill_client 17",
                                 "shutdown 2", "shutdown 3", "set default_pool_size=40",
                                 "set server_reset_query=DISCARD ALL", "suspend"});
}

TEST_CASE("a stats user may SHOW but runs no control command") {
  Fixture f;
  for (const char* sql : {"PAUSE", "RESUME", "KILL app", "KILL_CLIENT 1", "SET a = b", "SHUTDOWN",
                          "DISABLE app", "RECONNECT", "WAIT_CLOSE"}) {
    CHECK(sqlstate_of(f.run(sql, ConsoleRole::kStats)) == "42501");
  }
  CHECK(f.controls.calls.empty());
}

TEST_CASE("malformed control commands are syntax errors that name the right form") {
  Fixture f;
  for (const char* sql : {"DISABLE", "ENABLE a b", "PAUSE a b", "KILL_CLIENT x",
                          "KILL_CLIENT 12abc", "SHUTDOWN NOW", "SET nothing", "SUSPEND app"}) {
    CHECK(sqlstate_of(f.run(sql)) == "42601");
  }
  CHECK(sqlstate_of(f.run("KILL_CLIENT 404")) == "42704");
  CHECK(sqlstate_of(f.run("SHOW FDS")) == "0A000");
  CHECK(f.controls.calls == std::vector<std::string>{});
}

TEST_CASE("control commands refuse the admin database itself, in PgBouncer's words") {
  Fixture f;
  const std::pair<const char*, const char*> cases[] = {
      {"KILL pgbouncer", "cannot kill admin db: pgbouncer"},
      {"PAUSE pgbouncer", "cannot pause admin db: pgbouncer"},
      {"reconnect pooler", "cannot reconnect admin db: pooler"},
      {"WAIT_CLOSE pgbouncer", "cannot wait in admin db: pgbouncer"},
      {"DISABLE pgbouncer", "cannot disable admin db: pgbouncer"},
      {"ENABLE pgbouncer", "cannot enable admin db: pgbouncer"}};
  for (const auto& [sql, message] : cases) {
    CAPTURE(sql);
    std::string out = f.run(sql);
    CHECK(sqlstate_of(out) == "55000");
    CHECK(out.find(message) != std::string::npos);
  }
  CHECK(f.run("KILL_CLIENT x").find("invalid client pointer supplied") != std::string::npos);
  CHECK(f.controls.calls.empty());
}

TEST_CASE("PAUSE answers only once the servers are released, holding later output") {
  Fixture f;
  ConsoleSession session(f.console, ConsoleRole::kAdmin);
  bool terminate = false;
  std::string query("PAUSE\0", 6);
  CHECK(session.handle('Q', pooler::util::as_bytes(query), terminate).empty());
  CHECK(session.blocked());
  CHECK(session.poll().empty());
  f.servers_released = true;
  auto msgs = messages_of(session.poll());
  CHECK_FALSE(session.blocked());
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].type == 'C');
  CHECK(msgs[0].body == std::string("PAUSE\0", 6));
  CHECK(msgs[1].type == 'Z');
}

TEST_CASE("SELECT is routed to SHOW as in PgBouncer") {
  Fixture f;
  auto msgs = messages_of(f.run("select version", ConsoleRole::kStats));
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].type == 'T');
}

TEST_CASE("transaction statements are no-ops with PostgreSQL's tags, for stats users too") {
  // psycopg2 and psycopg 3 without autocommit send BEGIN before the first statement.
  Fixture f;
  const std::pair<const char*, const char*> cases[] = {
      {"BEGIN", "BEGIN"},
      {"begin;", "BEGIN"},
      {"BEGIN WORK", "BEGIN"},
      {"BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY", "BEGIN"},
      {"BEGIN ISOLATION LEVEL SERIALIZABLE DEFERRABLE;", "BEGIN"},
      {"start transaction", "START TRANSACTION"},
      {"START TRANSACTION READ WRITE, NOT DEFERRABLE", "START TRANSACTION"},
      {"COMMIT", "COMMIT"},
      {"commit work;", "COMMIT"},
      {"COMMIT AND NO CHAIN", "COMMIT"},
      {"END", "COMMIT"},
      {"end transaction", "COMMIT"},
      {"ROLLBACK", "ROLLBACK"},
      {"Rollback Transaction ;", "ROLLBACK"},
      {"ROLLBACK AND CHAIN", "ROLLBACK"},
      {"ABORT", "ROLLBACK"},
      {" abort work ", "ROLLBACK"},
  };
  for (const auto& [sql, tag] : cases) {
    CAPTURE(sql);
    for (ConsoleRole role : {ConsoleRole::kAdmin, ConsoleRole::kStats}) {
      auto msgs = messages_of(f.run(sql, role));
      REQUIRE(msgs.size() == 1);
      CHECK(msgs[0].type == 'C');
      CHECK(msgs[0].body == std::string(tag) + '\0');
    }
  }
  CHECK(f.controls.calls.empty());
}

TEST_CASE("transaction-like statements the console cannot honour stay errors") {
  Fixture f;
  for (const char* sql : {"BEGIN nonsense", "START", "START nothing", "COMMIT PREPARED 'x'",
                          "ROLLBACK TO SAVEPOINT a", "ROLLBACK PREPARED 'x'", "COMMIT AND",
                          "END WORK now", "ABORT AND NO", "BE,GIN", "SAVEPOINT a"}) {
    CAPTURE(sql);
    CHECK(sqlstate_of(f.run(sql)) == "42601");
  }
}

TEST_CASE("a driver's transaction around SHOW works in one console session") {
  Fixture f;
  ConsoleSession session(f.console, ConsoleRole::kStats);
  bool terminate = false;
  auto query = [&](const std::string& sql) {
    std::string body = sql + '\0';
    return messages_of(session.handle('Q', pooler::util::as_bytes(body), terminate));
  };
  auto begun = query("BEGIN");
  REQUIRE(begun.size() == 2);
  CHECK(begun[0].body == std::string("BEGIN\0", 6));
  CHECK(begun[1].type == 'Z');
  CHECK(query("SHOW POOLS;").front().type == 'T');
  auto committed = query("COMMIT");
  REQUIRE(committed.size() == 2);
  CHECK(committed[0].body == std::string("COMMIT\0", 7));
}

TEST_CASE("SHOW SOCKETS and ACTIVE_SOCKETS answer tables, for stats users too; not SHOW FDS") {
  Fixture f;
  for (const char* sql : {"SHOW SOCKETS", "show active_sockets;"}) {
    CAPTURE(sql);
    auto msgs = messages_of(f.run(sql, ConsoleRole::kStats));
    REQUIRE(msgs.size() == 2);  // the fake snapshot has no connections
    CHECK(msgs[0].type == 'T');
    CHECK(column_names(msgs[0].body).back() == "send_avail");
    CHECK(msgs[1].type == 'C');
  }
  CHECK(sqlstate_of(f.run("SHOW FDS")) == "0A000");
}

TEST_CASE("SHOW PEERS and PEER_POOLS answer PgBouncer's columns and no rows (no peering)") {
  Fixture f;
  auto peers = messages_of(f.run("SHOW PEERS", ConsoleRole::kStats));
  REQUIRE(peers.size() == 2);
  CHECK(column_names(peers[0].body) ==
        std::vector<std::string>{"peer_id", "host", "port", "pool_size"});
  CHECK(peers[1].type == 'C');
  auto pools = messages_of(f.run("show peer_pools;"));
  REQUIRE(pools.size() == 2);
  CHECK(column_names(pools[0].body) ==
        std::vector<std::string>{"peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req",
                                 "sv_active_cancel", "sv_login"});
}

TEST_CASE("SET reads the same after any leading blank, \\v and \\f too (found by fuzzing)") {
  Fixture f;
  for (const char* sql : {"\fSET default_pool_size = 40", "\v set default_pool_size TO 40",
                          ";SET default_pool_size = 40"}) {
    CAPTURE(sql);
    auto msgs = messages_of(f.run(sql));
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].type == 'C');
  }
  CHECK(f.controls.calls == std::vector<std::string>(3, "set default_pool_size=40"));
  CHECK(sqlstate_of(f.run("\fSET = 40")) == "42601");
}
