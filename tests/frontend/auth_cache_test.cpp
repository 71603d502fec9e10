// The auth_query cache: answers serve later logins for the ttl only, errors are never kept,
// the oldest answer goes when it is full, and clear() forgets everything.
#include "pooler/frontend/auth_cache.hpp"

#include <doctest/doctest.h>

#include <chrono>

using pooler::backend::AuthQueryAnswer;
using pooler::frontend::AuthCache;
using namespace std::chrono_literals;

namespace {

AuthQueryAnswer secret(const char* value) {
  return {AuthQueryAnswer::Kind::kSecret, value, {}};
}

const pooler::util::TimePoint kStart{};

}  // namespace

TEST_CASE("a cached answer serves logins within the ttl and not after") {
  AuthCache cache;
  std::string key = AuthCache::key("db", "auth", "q", "alice");
  cache.store(key, secret("md5abc"), kStart, 10);
  REQUIRE(cache.find(key, kStart + 59s, 60s) != nullptr);
  CHECK(cache.find(key, kStart + 59s, 60s)->secret == "md5abc");
  CHECK(cache.find(key, kStart + 60s, 60s) == nullptr);
  CHECK(cache.find(key, kStart, 0s) == nullptr);  // ttl 0: nothing is cached
}

TEST_CASE("no row is cached like a secret, an error is not") {
  AuthCache cache;
  cache.store("a", {AuthQueryAnswer::Kind::kNoRow, {}, {}}, kStart, 10);
  cache.store("b", {AuthQueryAnswer::Kind::kError, {}, "server down"}, kStart, 10);
  CHECK(cache.find("a", kStart, 60s) != nullptr);
  CHECK(cache.find("b", kStart, 60s) == nullptr);
}

TEST_CASE("keys keep database, auth user, query and user apart") {
  CHECK(AuthCache::key("db", "a", "q", "u") != AuthCache::key("db", "a", "qu", ""));
  CHECK(AuthCache::key("d", "ba", "q", "u") != AuthCache::key("db", "a", "q", "u"));
}

TEST_CASE("a full cache evicts the oldest answer, and storing again refreshes one") {
  AuthCache cache;
  cache.store("a", secret("1"), kStart, 2);
  cache.store("b", secret("2"), kStart + 1s, 2);
  cache.store("a", secret("3"), kStart + 2s, 2);  // a is now the newest
  cache.store("c", secret("4"), kStart + 3s, 2);  // so b goes
  CHECK(cache.size() == 2);
  CHECK(cache.find("b", kStart + 3s, 60s) == nullptr);
  REQUIRE(cache.find("a", kStart + 3s, 60s) != nullptr);
  CHECK(cache.find("a", kStart + 3s, 60s)->secret == "3");
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(cache.find("c", kStart + 3s, 60s) == nullptr);
}
