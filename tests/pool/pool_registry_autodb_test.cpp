// PoolRegistry and auto-databases: the janitor forgets the pools of a "*"-served database idle
// past autodb_idle_timeout, never those a client is attached to, never a configured database's
// and never a paused one's. No server is opened: the pools here never get a waiter.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pooler/net/dns_cache.hpp"
#include "pooler/net/graveyard.hpp"
#include "pooler/net/loop.hpp"
#include "pooler/net/resolver.hpp"
#include "pooler/pool/pool_registry.hpp"
#include "pooler/pool/server_target.hpp"
#include "pooler/util/clock.hpp"

using namespace std::chrono_literals;

namespace {

using pooler::config::Config;
using pooler::config::DatabaseEntry;
using pooler::pool::Pool;
using pooler::pool::PoolRegistry;

class NoResolver final : public pooler::net::Resolver {
 public:
  void resolve(const std::string&, Done) override {}
};

struct Fixture {
  pooler::net::Loop loop;
  pooler::util::ManualClock clock;
  NoResolver resolver;
  pooler::net::DnsCache dns{resolver, clock};
  pooler::net::Graveyard graveyard{loop};
  PoolRegistry pools{loop, dns, clock, graveyard};
  Config config;

  Fixture() {
    config.settings.autodb_idle_timeout = 5;
    DatabaseEntry fallback;
    fallback.name = "*";
    fallback.host = "127.0.0.1";
    config.databases["*"] = fallback;
    DatabaseEntry listed;
    listed.name = "listed";
    listed.host = "127.0.0.1";
    config.databases["listed"] = listed;
  }

  Pool& pool(const std::string& database, const std::string& user) {
    DatabaseEntry entry = *config.find_database(database);
    return pools.pool_for(config, entry, user, pooler::pool::server_target(config, entry, user));
  }

  std::vector<std::string> pool_names() const {
    std::vector<std::string> names;
    pools.for_each([&](const Pool& p) { names.push_back(p.key().database + "/" + p.key().user); });
    return names;
  }

  // The janitor ticks while `span` passes.
  void run_for(pooler::util::Duration span) {
    for (auto passed = 0ms; passed < span; passed += 500ms) {
      pools.tick();
      clock.advance(500ms);
    }
    pools.tick();
  }
};

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("an auto-database's pools are forgotten once it has had no client for the timeout") {
  Fixture f;
  Pool& a = f.pool("auto1", "alice");
  f.pool("auto1", "bob");
  f.pool("listed", "alice");
  a.attach_client();
  CHECK(f.pools.auto_databases() == Names{"auto1"});
  f.run_for(10s);
  CHECK(f.pool_names() == Names{"auto1/alice", "auto1/bob", "listed/alice"});
  a.detach_client();
  f.run_for(4s);
  CHECK(f.pools.auto_databases() == Names{"auto1"});
  f.run_for(2s);
  CHECK(f.pools.auto_databases().empty());
  CHECK(f.pool_names() == Names{"listed/alice"});
  // Asked for again, it is a new auto-database.
  f.pool("auto1", "alice");
  CHECK(f.pools.auto_databases() == Names{"auto1"});
}

TEST_CASE("a paused auto-database is kept however long it is idle") {
  Fixture f;
  f.pool("auto1", "alice");
  f.pools.pause(std::string("auto1"));
  f.run_for(20s);
  CHECK(f.pool_names() == Names{"auto1/alice"});
  f.pools.resume(std::string("auto1"));
  f.run_for(6s);
  CHECK(f.pool_names().empty());
}

TEST_CASE("autodb_idle_timeout = 0 keeps auto-databases; a reload's new timeout applies") {
  Fixture f;
  f.config.settings.autodb_idle_timeout = 0;
  f.pool("auto1", "alice");
  f.run_for(60s);
  CHECK(f.pool_names() == Names{"auto1/alice"});
  f.config.settings.autodb_idle_timeout = 1;
  f.pools.apply(f.config);
  f.run_for(2s);
  CHECK(f.pool_names().empty());
}

TEST_CASE("a reload that configures an auto-database's name makes it a database of its own") {
  Fixture f;
  f.pool("auto1", "alice");
  DatabaseEntry own;
  own.name = "auto1";
  own.host = "127.0.0.1";
  f.config.databases["auto1"] = own;
  f.pools.apply(f.config);
  CHECK(f.pools.auto_databases().empty());
  f.run_for(20s);
  CHECK(f.pool_names() == Names{"auto1/alice"});
}
