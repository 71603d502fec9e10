// DnsCache: answers kept for dns_max_ttl, failures for dns_nxdomain_ttl, one lookup shared by
// concurrent callers, addresses in turn, and dropped addresses reported; with a fake resolver
// answered by hand and a manual clock, so no network is used.
#include "pooler/net/dns_cache.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

namespace {

using pooler::net::DnsCache;
using pooler::net::Resolver;
using pooler::util::ManualClock;
using namespace std::chrono_literals;
using Addresses = std::vector<std::string>;

// Holds each lookup until the test answers it.
class FakeResolver final : public Resolver {
 public:
  void resolve(const std::string& host, Done done) override {
    asked.push_back(host);
    pending.push_back(std::move(done));
  }
  void answer(Addresses addresses) { take()(std::move(addresses)); }
  void fail(const std::string& why) { take()(pooler::util::Error{why}); }

  std::vector<std::string> asked;
  std::deque<Done> pending;

 private:
  Done take() {
    REQUIRE_FALSE(pending.empty());
    Done done = std::move(pending.front());
    pending.pop_front();
    return done;
  }
};

// What a caller was told: an address, or "error: why".
struct Told {
  std::vector<std::string> answers;
  DnsCache::Done done() {
    return [this](DnsCache::Answer a) { answers.push_back(a ? *a : "error: " + a.error()); };
  }
};

struct Fixture {
  ManualClock clock;
  FakeResolver resolver;
  DnsCache cache{resolver, clock};
  Fixture() { cache.set_ttls(15s, 5s); }
};

}  // namespace

TEST_CASE("a name is looked up once and then answered from the cache until dns_max_ttl") {
  Fixture f;
  CHECK_FALSE(f.cache.cached("db.example"));
  Told told;
  auto lookup = f.cache.resolve("db.example", told.done());
  CHECK(told.answers.empty());  // never from inside resolve()
  CHECK(f.cache.queries() == 1);
  CHECK(f.cache.waiting() == 1);
  f.resolver.answer({"10.0.0.1"});
  CHECK(told.answers == Addresses{"10.0.0.1"});
  CHECK(f.cache.queries() == 0);
  CHECK(f.cache.waiting() == 0);

  f.clock.advance(14s);
  auto hit = f.cache.cached("db.example");
  REQUIRE(hit);
  CHECK(**hit == "10.0.0.1");
  f.clock.advance(1s);
  CHECK_FALSE(f.cache.cached("db.example"));
  CHECK(f.resolver.asked == Addresses{"db.example"});
}

TEST_CASE("callers asking while a lookup runs share it") {
  Fixture f;
  Told a, b, c;
  auto la = f.cache.resolve("db.example", a.done());
  auto lb = f.cache.resolve("db.example", b.done());
  auto lc = f.cache.resolve("other.example", c.done());
  CHECK(f.resolver.asked == Addresses{"db.example", "other.example"});
  CHECK(f.cache.queries() == 2);
  CHECK(f.cache.waiting() == 3);
  f.resolver.answer({"10.0.0.1", "10.0.0.2"});
  // Each caller gets the next address.
  CHECK(a.answers == Addresses{"10.0.0.1"});
  CHECK(b.answers == Addresses{"10.0.0.2"});
  CHECK(c.answers.empty());
  f.resolver.answer({"10.9.9.9"});
  CHECK(c.answers == Addresses{"10.9.9.9"});
}

TEST_CASE("a name with several addresses hands them out in turn") {
  Fixture f;
  Told told;
  auto lookup = f.cache.resolve("db.example", told.done());
  f.resolver.answer({"10.0.0.1", "10.0.0.2", "10.0.0.3"});
  std::vector<std::string> next;
  for (int i = 0; i < 4; ++i)
    next.push_back(**f.cache.cached("db.example"));
  CHECK(told.answers == Addresses{"10.0.0.1"});
  CHECK(next == Addresses{"10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2"});
}

TEST_CASE("a failure is cached for dns_nxdomain_ttl") {
  Fixture f;
  Told told;
  auto lookup = f.cache.resolve("gone.example", told.done());
  f.resolver.fail("unknown node or service");
  CHECK(told.answers == Addresses{"error: unknown node or service"});
  auto hit = f.cache.cached("gone.example");
  REQUIRE(hit);
  CHECK_FALSE(*hit);
  CHECK(hit->error() == "unknown node or service");
  f.clock.advance(5s);
  CHECK_FALSE(f.cache.cached("gone.example"));
  auto hosts = f.cache.hosts();
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0].addresses.empty());
}

TEST_CASE("a caller that goes away before the answer is not called") {
  Fixture f;
  Told gone, stays;
  auto lgone = f.cache.resolve("db.example", gone.done());
  auto lstays = f.cache.resolve("db.example", stays.done());
  lgone.reset();
  CHECK(f.cache.waiting() == 1);
  f.resolver.answer({"10.0.0.1"});
  CHECK(gone.answers.empty());
  CHECK(stays.answers == Addresses{"10.0.0.1"});
}

TEST_CASE("an answer may let go of another caller still waiting") {
  Fixture f;
  Told second;
  std::unique_ptr<DnsCache::Lookup> other;
  bool first_called = false;
  auto first = f.cache.resolve("db.example", [&](DnsCache::Answer) {
    first_called = true;
    other.reset();
  });
  other = f.cache.resolve("db.example", second.done());
  f.resolver.answer({"10.0.0.1"});
  CHECK(first_called);
  CHECK(second.answers.empty());
  CHECK(f.cache.waiting() == 0);
}

TEST_CASE("a re-resolution that drops an address reports it, a failed one reports nothing") {
  Fixture f;
  std::vector<std::pair<std::string, Addresses>> dropped;
  f.cache.set_on_dropped([&](const std::string& host, const Addresses& addresses) {
    dropped.emplace_back(host, addresses);
  });
  Told told;
  auto l1 = f.cache.resolve("db.example", told.done());
  f.resolver.answer({"10.0.0.1", "10.0.0.2"});
  CHECK(dropped.empty());

  f.clock.advance(15s);
  auto l2 = f.cache.resolve("db.example", told.done());
  f.resolver.fail("temporary failure in name resolution");
  CHECK(dropped.empty());

  f.clock.advance(5s);
  auto l3 = f.cache.resolve("db.example", told.done());
  f.resolver.answer({"10.0.0.2", "10.0.0.3"});
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].first == "db.example");
  CHECK(dropped[0].second == Addresses{"10.0.0.1"});
}

TEST_CASE("SHOW DNS_HOSTS: each name with its addresses and the seconds left") {
  Fixture f;
  Told told;
  auto la = f.cache.resolve("b.example", told.done());
  auto lb = f.cache.resolve("a.example", told.done());
  CHECK(f.cache.hosts().empty());  // nothing resolved yet
  f.resolver.answer({"10.0.0.2"});
  f.resolver.answer({"10.0.0.1", "::1"});
  f.clock.advance(10s);
  auto hosts = f.cache.hosts();
  REQUIRE(hosts.size() == 2);
  CHECK(f.cache.names() == 2);
  CHECK(hosts[0].hostname == "a.example");
  CHECK(hosts[0].addresses == Addresses{"10.0.0.1", "::1"});
  CHECK(hosts[0].ttl == 5s);
  f.clock.advance(10s);
  CHECK(f.cache.hosts()[0].ttl == 0s);
}

TEST_CASE("new TTLs apply to the names already cached") {
  Fixture f;
  Told told;
  auto lookup = f.cache.resolve("db.example", told.done());
  f.resolver.answer({"10.0.0.1"});
  f.clock.advance(3s);
  CHECK(f.cache.cached("db.example"));
  f.cache.set_ttls(2s, 2s);
  CHECK_FALSE(f.cache.cached("db.example"));
  f.cache.set_ttls(0s, 0s);
  // dns_max_ttl = 0: every connect resolves again.
  auto again = f.cache.resolve("db.example", told.done());
  f.resolver.answer({"10.0.0.1"});
  CHECK_FALSE(f.cache.cached("db.example"));
}

TEST_CASE("a cache destroyed while a lookup runs leaves its callers and the resolver alone") {
  ManualClock clock;
  FakeResolver resolver;
  Told told;
  std::unique_ptr<DnsCache::Lookup> lookup;
  {
    DnsCache cache(resolver, clock);
    lookup = cache.resolve("db.example", told.done());
  }
  resolver.answer({"10.0.0.1"});
  CHECK(told.answers.empty());
  lookup.reset();
}
