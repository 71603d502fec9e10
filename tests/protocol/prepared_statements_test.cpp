// The statement catalog, a client's names and a server's LRU, without any wire bytes.
#include "pooler/protocol/prepared_statements.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using pooler::protocol::ClientStatements;
using pooler::protocol::ServerStatements;
using pooler::protocol::StatementCatalog;
using pooler::protocol::StatementRef;
using pooler::util::as_bytes;

namespace {
const std::string kNoTypes(2, '\0');
const std::string kOneInt4 = std::string("\0\1\0\0\0\x17", 6);
}  // namespace

TEST_CASE("the same text and types are one statement with one server name") {
  StatementCatalog catalog;
  StatementRef a = catalog.intern("SELECT 1", as_bytes(kNoTypes));
  StatementRef b = catalog.intern("SELECT 1", as_bytes(kNoTypes));
  StatementRef c = catalog.intern("SELECT 1", as_bytes(kOneInt4));
  StatementRef d = catalog.intern("SELECT 2", as_bytes(kNoTypes));
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  CHECK(a->server_name == "pooler_1");
  CHECK(c->server_name == "pooler_2");
  CHECK(d->server_name == "pooler_3");
}

TEST_CASE("a statement nobody names is forgotten and made anew with a fresh name") {
  StatementCatalog catalog;
  std::string first = catalog.intern("SELECT 1", as_bytes(kNoTypes))->server_name;
  StatementRef again = catalog.intern("SELECT 1", as_bytes(kNoTypes));
  CHECK(again->server_name != first);
  for (int i = 0; i < 200; ++i) catalog.intern("SELECT " + std::to_string(i), as_bytes(kNoTypes));
  CHECK(catalog.size() < 140);
  CHECK(catalog.intern("SELECT 1", as_bytes(kNoTypes)) == again);
}

TEST_CASE("two clients' same name maps to their own statements") {
  StatementCatalog catalog;
  ClientStatements alice, bob;
  alice.set("_pg3_0", catalog.intern("SELECT 1", as_bytes(kNoTypes)));
  bob.set("_pg3_0", catalog.intern("SELECT 2", as_bytes(kNoTypes)));
  REQUIRE(alice.find("_pg3_0") != nullptr);
  CHECK((*alice.find("_pg3_0"))->query == "SELECT 1");
  CHECK((*bob.find("_pg3_0"))->query == "SELECT 2");
  CHECK(alice.find("other") == nullptr);
  StatementRef dropped = alice.erase("_pg3_0");
  CHECK(dropped->query == "SELECT 1");
  CHECK(alice.size() == 0);
  bob.erase_if_names("_pg3_0", dropped.get());
  CHECK(bob.size() == 1);
}

TEST_CASE("the server LRU evicts the least recently used past max_prepared_statements") {
  StatementCatalog catalog;
  StatementRef s1 = catalog.intern("SELECT 1", as_bytes(kNoTypes));
  StatementRef s2 = catalog.intern("SELECT 2", as_bytes(kNoTypes));
  StatementRef s3 = catalog.intern("SELECT 3", as_bytes(kNoTypes));
  ServerStatements server(2);
  CHECK(server.insert(s1) == nullptr);
  CHECK(server.insert(s2) == nullptr);
  CHECK(server.touch(s1.get()));
  StatementRef evicted = server.insert(s3);
  CHECK(evicted == s2);
  CHECK(server.names() == std::vector<std::string>{"pooler_3", "pooler_1"});
  CHECK_FALSE(server.touch(s2.get()));
  server.erase(s1.get());
  CHECK(server.size() == 1);
  server.clear();
  CHECK(server.size() == 0);
  CHECK_FALSE(ServerStatements(0).tracking());
}
