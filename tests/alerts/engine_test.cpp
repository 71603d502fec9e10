// The alert engine against a manual clock: `for` holds off a brief spike, hysteresis keeps an
// alert from flapping, each state change is reported exactly once, windows forget old events.
#include "pooler/alerts/engine.hpp"

#include <doctest/doctest.h>

namespace {

using pooler::alerts::Alert;
using pooler::alerts::Engine;
using pooler::config::AlertRuleSettings;
using pooler::metrics::PoolSample;
using pooler::metrics::Sample;
using namespace std::chrono_literals;

struct Fixture {
  Engine engine;
  std::vector<AlertRuleSettings> rules = pooler::config::default_alert_rules();
  pooler::util::TimePoint now{};
  Sample sample;

  Fixture() {
    PoolSample pool;
    pool.database = "app";
    pool.user = "api";
    pool.pool_size = 10;
    sample.pools.push_back(pool);
  }
  PoolSample& pool() { return sample.pools[0]; }
  AlertRuleSettings& rule(const std::string& name) {
    for (auto& r : rules) {
      if (r.name == name) return r;
    }
    FAIL("no rule " << name);
    return rules[0];
  }
  std::vector<Alert> step(std::chrono::seconds by = 1s) {
    now += by;
    auto wall = std::chrono::system_clock::time_point{} +
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    now.time_since_epoch());
    return engine.evaluate(rules, sample, now, wall);
  }
};

}  // namespace

TEST_CASE("PoolSaturated fires only after utilization holds for `for`, once, and resolves once") {
  Fixture f;
  f.rule("PoolSaturated").for_seconds = 30;
  f.pool().server_active = 9;  // 0.9
  CHECK(f.step().empty());
  for (int i = 0; i < 28; ++i) CHECK(f.step().empty());
  auto fired = f.step(1s);
  CHECK(fired.empty());
  fired = f.step(1s);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].name == "PoolSaturated");
  CHECK(fired[0].firing);
  CHECK(fired[0].database == "app");
  CHECK(fired[0].value == doctest::Approx(0.9));
  CHECK(f.engine.firing().size() == 1);
  for (int i = 0; i < 10; ++i) CHECK(f.step().empty());  // no repeats while it holds
  f.pool().server_active = 2;
  auto resolved = f.step();
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
  CHECK(resolved[0].starts_at == fired[0].starts_at);
  CHECK(resolved[0].ends_at > resolved[0].starts_at);
  CHECK(f.engine.firing().empty());
  REQUIRE(f.engine.known().size() == 1);  // pooler_alert_firing stays, at 0
  CHECK(f.step().empty());
}

TEST_CASE("a spike shorter than `for` never fires") {
  Fixture f;
  f.rule("PoolSaturated").for_seconds = 30;
  for (int round = 0; round < 3; ++round) {
    f.pool().server_active = 10;
    for (int i = 0; i < 20; ++i) CHECK(f.step().empty());
    f.pool().server_active = 1;
    CHECK(f.step().empty());
  }
  CHECK(f.engine.known().empty());
}

TEST_CASE("resolve_threshold below the threshold keeps a hovering value from flapping") {
  Fixture f;
  auto& rule = f.rule("PoolSaturated");
  rule.for_seconds = 0;
  rule.resolve_threshold = 0.5;
  f.pool().server_active = 8;
  CHECK(f.step().size() == 1);
  f.pool().server_active = 7;  // below 0.8, above 0.5: still firing
  CHECK(f.step().empty());
  CHECK(f.engine.firing().size() == 1);
  f.pool().server_active = 4;
  CHECK(f.step().size() == 1);
}

TEST_CASE("ClientsWaiting needs both waiting clients and a long enough wait") {
  Fixture f;
  f.rule("ClientsWaiting").for_seconds = 0;
  f.pool().maxwait_seconds = 5;  // stale: nobody waits
  CHECK(f.step().empty());
  f.pool().client_waiting = 3;
  f.pool().maxwait_seconds = 0.5;
  CHECK(f.step().empty());
  f.pool().maxwait_seconds = 1.5;
  auto fired = f.step();
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].name == "ClientsWaiting");
}

TEST_CASE("WaitTimeoutsHappening counts timeouts over the last minute only") {
  Fixture f;
  CHECK(f.step().empty());
  f.pool().stats.query_wait_timeouts = 1;
  auto fired = f.step();
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].value == 1);
  for (int i = 0; i < 58; ++i) CHECK(f.step().empty());
  auto resolved = f.step(2s);
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
}

TEST_CASE("a pool first seen with failed logins already counts them") {
  // The pool was created by a client's login, and its first server failed before the next look.
  Fixture f;
  f.pool().stats.server_login_failures = 1;
  auto fired = f.step();
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].name == "ServerLoginFailing");
}

TEST_CASE("ServerLoginFailing resolves as soon as a server login succeeds") {
  Fixture f;
  CHECK(f.step().empty());
  f.pool().stats.server_login_failures = 2;
  auto fired = f.step();
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].severity == "critical");
  f.pool().stats.server_login_count = 1;
  auto resolved = f.step();
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
  CHECK(f.step().empty());  // the failures before the success stay forgotten
  f.pool().stats.server_login_failures = 3;
  CHECK(f.step().size() == 1);
}

TEST_CASE("process-wide alerts: clients near max_client_conn, descriptors near the limit") {
  Fixture f;
  f.sample.process.max_client_conn = 100;
  f.sample.process.clients = 95;
  f.sample.process.max_fds = 1000;
  f.sample.process.open_fds = 900;
  auto fired = f.step();
  REQUIRE(fired.size() == 2);
  for (const auto& a : fired) {
    CHECK(a.database.empty());
    CHECK((a.name == "ClientConnectionsNearLimit" || a.name == "FileDescriptorsNearLimit"));
  }
}

TEST_CASE("a disabled rule or a pool that disappears resolves what was firing") {
  Fixture f;
  f.rule("PoolSaturated").for_seconds = 0;
  f.pool().server_active = 10;
  CHECK(f.step().size() == 1);
  f.sample.pools.clear();
  auto resolved = f.step();
  REQUIRE(resolved.size() == 1);
  CHECK_FALSE(resolved[0].firing);
  f.rule("PoolSaturated").enabled = false;
  PoolSample again;
  again.database = "app";
  again.user = "api";
  again.pool_size = 10;
  again.server_active = 10;
  f.sample.pools.push_back(again);
  CHECK(f.step().empty());
}
