// AutoDatabases: a "*"-served name is forgotten only after autodb_idle_timeout without anything
// holding it, and a hold at any look starts its idle time over.
#include "pooler/pool/auto_databases.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "pooler/util/clock.hpp"

using pooler::pool::AutoDatabases;
using pooler::util::ManualClock;
using namespace std::chrono_literals;

namespace {

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("an auto-database is new once, listed in name order, and new again once forgotten") {
  AutoDatabases autodbs;
  CHECK(autodbs.add("sales"));
  CHECK_FALSE(autodbs.add("sales"));
  CHECK(autodbs.add("hr"));
  CHECK(autodbs.names() == Names{"hr", "sales"});
  ManualClock clock;
  auto none = [](const std::string&) { return false; };
  autodbs.sweep(clock.now(), 1s, none);
  clock.advance(2s);
  CHECK(autodbs.sweep(clock.now(), 1s, none) == Names{"hr", "sales"});
  CHECK(autodbs.empty());
  CHECK(autodbs.add("sales"));
}

TEST_CASE("an auto-database without clients is forgotten only once idle longer than the timeout") {
  AutoDatabases autodbs;
  autodbs.add("app");
  ManualClock clock;
  auto none = [](const std::string&) { return false; };
  CHECK(autodbs.sweep(clock.now(), 10s, none).empty());  // idle from now on
  clock.advance(10s);
  CHECK(autodbs.sweep(clock.now(), 10s, none).empty());  // not longer than the timeout yet
  clock.advance(1ms);
  CHECK(autodbs.sweep(clock.now(), 10s, none) == Names{"app"});
  CHECK_FALSE(autodbs.contains("app"));
}

TEST_CASE("a hold at any look restarts the idle time") {
  AutoDatabases autodbs;
  autodbs.add("app");
  autodbs.add("other");
  ManualClock clock;
  std::set<std::string> held = {"app"};
  auto holds = [&](const std::string& name) { return held.count(name) > 0; };
  autodbs.sweep(clock.now(), 10s, holds);
  clock.advance(8s);
  autodbs.sweep(clock.now(), 10s, holds);
  held.clear();  // the last client of "app" left
  autodbs.sweep(clock.now(), 10s, holds);
  clock.advance(8s);
  // "other" has been idle 16 s, "app" only 8 s.
  CHECK(autodbs.sweep(clock.now(), 10s, holds) == Names{"other"});
  held.insert("app");  // a client came back just in time
  clock.advance(8s);
  CHECK(autodbs.sweep(clock.now(), 10s, holds).empty());
  held.clear();
  autodbs.sweep(clock.now(), 10s, holds);
  clock.advance(11s);
  CHECK(autodbs.sweep(clock.now(), 10s, holds) == Names{"app"});
}

TEST_CASE("autodb_idle_timeout = 0 keeps auto-databases for good, as in PgBouncer") {
  AutoDatabases autodbs;
  autodbs.add("app");
  ManualClock clock;
  auto none = [](const std::string&) { return false; };
  autodbs.sweep(clock.now(), 0s, none);
  clock.advance(std::chrono::hours(24 * 365));
  CHECK(autodbs.sweep(clock.now(), 0s, none).empty());
  CHECK(autodbs.contains("app"));
}

TEST_CASE("a configured name stops being an auto-database") {
  AutoDatabases autodbs;
  autodbs.add("app");
  autodbs.erase("app");
  CHECK_FALSE(autodbs.contains("app"));
  CHECK(autodbs.names().empty());
}
