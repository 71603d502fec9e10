// Prepared statements through the pooler on byte sequences: clients sharing server connections
// get, reply for reply, what a server of their own would have answered.
#include "pooler/protocol/statement_rewriter.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fake_postgres.hpp"

using namespace pooler::testing;
using pooler::protocol::DeallocateCommand;
using pooler::protocol::parse_deallocate;

namespace {

// The messages the pooler sent to the server, as "P:pooler_1" (type and the first name field).
std::string sent(std::string_view bytes) {
  bool ok = true;
  std::string out;
  for (const WireMessage& m : split_messages(bytes, ok)) {
    std::string_view body = m.body;
    if (m.type == 'B') body = body.substr(body.find('\0') + 1);
    if (m.type == 'C' || m.type == 'D') body.remove_prefix(1);
    out += std::string(1, m.type);
    if (m.type == 'P' || m.type == 'B' || m.type == 'C' || m.type == 'D') {
      out += ":" + std::string(body.substr(0, body.find('\0')));
    }
    out += " ";
  }
  return out;
}

// Parse, Bind, Execute, Sync of one named statement, then the replies.
void run_prepared(PoolRig& rig, std::size_t c, std::string_view name, std::string_view query) {
  rig.send(c, 'P', parse_body(name, query));
  rig.send(c, 'B', bind_body(name));
  rig.send(c, 'E', execute_body());
  rig.send(c, 'S', "");
  rig.deliver();
}

void check_transparent(PoolRig& rig, std::size_t c) {
  CHECK(shapes(rig.client(c).through_pooler) == shapes(rig.client(c).expected));
}

}  // namespace

TEST_CASE("two clients' same statement name for different queries never collide on a server") {
  PoolRig rig(2, 10);
  run_prepared(rig, 0, "_pg3_0", "SELECT 1");
  run_prepared(rig, 1, "_pg3_0", "SELECT 2");
  CHECK(sent(rig.sent_to_server) == "P:pooler_1 B:pooler_1 E S P:pooler_2 B:pooler_2 E S ");
  CHECK(shapes(rig.client(0).through_pooler) == "1 2 C Z ");
  check_transparent(rig, 1);
  CHECK(rig.server().statements().size() == 2);
}

TEST_CASE("a repeated Parse of a statement the server has is answered without a round trip") {
  PoolRig rig(2, 10);
  run_prepared(rig, 0, "a", "SELECT 1");
  rig.sent_to_server.clear();
  rig.send(1, 'P', parse_body("s1", "SELECT 1"));
  CHECK(rig.sent_to_server.empty());
  CHECK(shapes(rig.client(1).through_pooler) == "1 ");
  rig.send(1, 'B', bind_body("s1"));
  rig.send(1, 'E', execute_body());
  rig.send(1, 'S', "");
  rig.deliver();
  CHECK(sent(rig.sent_to_server) == "B:pooler_1 E S ");
  check_transparent(rig, 1);
  CHECK(rig.counters().client_parse_count == 2);
  CHECK(rig.counters().server_parse_count == 1);
  CHECK(rig.counters().bind_count == 2);
}

TEST_CASE("a made-up ParseComplete waits behind the replies of the requests before it") {
  PoolRig rig(2, 10);
  run_prepared(rig, 1, "x", "SELECT 2");
  rig.send(0, 'P', parse_body("a", "SELECT 1"));
  rig.send(0, 'P', parse_body("b", "SELECT 2"));
  rig.send(0, 'H', "");
  CHECK(rig.client(0).through_pooler.empty());
  rig.deliver();
  CHECK(shapes(rig.client(0).through_pooler) == "1 1 ");
  CHECK(rig.replies().idle());
}

TEST_CASE("a Bind of a statement the new server lacks prepares it first and hides ParseComplete") {
  PoolRig rig(1, 10);
  run_prepared(rig, 0, "a", "SELECT 1");
  rig.new_server(10);
  rig.sent_to_server.clear();
  rig.send(0, 'B', bind_body("a"));
  rig.send(0, 'D', named_body('S', "a"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'S', "");
  rig.deliver();
  CHECK(sent(rig.sent_to_server) == "P:pooler_1 B:pooler_1 D:pooler_1 E S ");
  check_transparent(rig, 0);
  CHECK(rig.counters().server_parse_count == 2);
}

TEST_CASE("an unknown statement name reaches PostgreSQL unchanged for its own error") {
  PoolRig rig(1, 10);
  rig.send(0, 'B', bind_body("never"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'S', "");
  rig.deliver();
  CHECK(sent(rig.sent_to_server) == "B:never E S ");
  CHECK(shapes(rig.client(0).through_pooler) == "E26000 Z ");
}

TEST_CASE("the server LRU closes the least recently used past max_prepared_statements = 2") {
  PoolRig rig(1, 2);
  run_prepared(rig, 0, "a", "SELECT 1");
  run_prepared(rig, 0, "b", "SELECT 2");
  run_prepared(rig, 0, "a", "SELECT 1");  // a becomes the most recent
  rig.sent_to_server.clear();
  run_prepared(rig, 0, "c", "SELECT 3");
  CHECK(sent(rig.sent_to_server) == "C:pooler_2 P:pooler_3 B:pooler_3 E S ");
  CHECK(rig.server().statements() == std::set<std::string>{"pooler_1", "pooler_3"});
  rig.sent_to_server.clear();
  rig.send(0, 'B', bind_body("b"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'S', "");
  rig.deliver();
  CHECK(sent(rig.sent_to_server) == "C:pooler_1 P:pooler_2 B:pooler_2 E S ");
  check_transparent(rig, 0);
}

TEST_CASE("a client's Close drops its own name and keeps the server's copy for others") {
  PoolRig rig(2, 10);
  run_prepared(rig, 0, "a", "SELECT 1");
  run_prepared(rig, 1, "b", "SELECT 1");
  rig.sent_to_server.clear();
  rig.send(0, 'C', named_body('S', "a"));
  rig.send(0, 'S', "");
  rig.deliver();
  CHECK(sent(rig.sent_to_server) == "S ");
  check_transparent(rig, 0);
  CHECK(rig.server().statements().contains("pooler_1"));
  rig.send(0, 'B', bind_body("a"));
  rig.send(0, 'S', "");
  rig.deliver();
  check_transparent(rig, 0);  // 26000: the client closed it
  rig.send(1, 'B', bind_body("b"));
  rig.send(1, 'E', execute_body());
  rig.send(1, 'S', "");
  rig.deliver();
  check_transparent(rig, 1);
}

TEST_CASE("DEALLOCATE ALL clears the client's names and is answered by the pooler") {
  PoolRig rig(1, 10);
  run_prepared(rig, 0, "a", "SELECT 1");
  rig.sent_to_server.clear();
  rig.send(0, 'Q', query_body("deallocate all ;"));
  CHECK(rig.sent_to_server.empty());
  CHECK(rig.client(0).names.size() == 0);
  CHECK(rig.server_statements().size() == 1);
  rig.send(0, 'B', bind_body("a"));
  rig.send(0, 'S', "");
  rig.deliver();
  check_transparent(rig, 0);
  run_prepared(rig, 0, "a", "SELECT 1");  // the server's copy serves the new Parse
  CHECK(rig.counters().server_parse_count == 1);
  check_transparent(rig, 0);
}

TEST_CASE("DEALLOCATE of one name drops that name; of a name never prepared, reaches PostgreSQL") {
  PoolRig rig(1, 10);
  run_prepared(rig, 0, "Mixed", "SELECT 1");
  run_prepared(rig, 0, "b", "SELECT 2");
  rig.sent_to_server.clear();
  rig.send(0, 'Q', query_body("DEALLOCATE PREPARE \"Mixed\""));
  rig.send(0, 'Q', query_body("DEALLOCATE mixed"));
  rig.deliver();
  CHECK(sent(rig.sent_to_server) == "Q ");
  CHECK(rig.client(0).names.size() == 1);
  check_transparent(rig, 0);
}

TEST_CASE("DISCARD ALL reaches PostgreSQL, clears the client's names and the server's LRU") {
  PoolRig rig(1, 10);
  run_prepared(rig, 0, "a", "SELECT 1");
  rig.send(0, 'Q', query_body("DISCARD ALL"));
  rig.deliver();
  CHECK(rig.client(0).names.size() == 0);
  CHECK(rig.server_statements().size() == 0);
  rig.sent_to_server.clear();
  // The text keeps its name (the pending Close holds it); that Close is harmless if PostgreSQL
  // already dropped it, and needed had DISCARD ALL failed.
  run_prepared(rig, 0, "a", "SELECT 1");
  CHECK(sent(rig.sent_to_server) == "C:pooler_1 P:pooler_1 B:pooler_1 E S ");
  check_transparent(rig, 0);
}

TEST_CASE("an error in a pipeline drops the made-up replies of what PostgreSQL skipped") {
  PoolRig rig(2, 10);
  run_prepared(rig, 1, "c", "SELECT 3");
  rig.send(0, 'P', parse_body("x", "SELECT fail"));
  rig.send(0, 'B', bind_body("x"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'P', parse_body("c", "SELECT 3"));  // the server has it: answered by the pooler
  rig.send(0, 'C', named_body('S', "c"));
  rig.send(0, 'B', bind_body("c"));
  rig.send(0, 'S', "");
  rig.deliver();
  CHECK(shapes(rig.client(0).through_pooler) == "E42601 Z ");
  check_transparent(rig, 0);
  // PostgreSQL never ran that Parse, so the client has no "c" and no "x".
  CHECK(rig.client(0).names.size() == 0);
  CHECK(rig.server_statements().size() == 1);
  rig.send(0, 'B', bind_body("c"));
  rig.send(0, 'S', "");
  rig.deliver();
  check_transparent(rig, 0);
  CHECK(rig.replies().idle());
}

TEST_CASE("a failed Parse the pooler forwarded leaves the statement off the server's LRU") {
  PoolRig rig(1, 10);
  rig.send(0, 'P', parse_body("x", "fail here"));
  rig.send(0, 'S', "");
  rig.deliver();
  CHECK(rig.server_statements().size() == 0);
  CHECK(rig.client(0).names.find("x") == nullptr);
  check_transparent(rig, 0);
}

TEST_CASE(
    "Flush without Sync: replies come as far as the server went; after an error, until Sync") {
  PoolRig rig(2, 10);
  run_prepared(rig, 1, "c", "SELECT 3");
  rig.send(0, 'P', parse_body("a", "SELECT 1"));
  rig.send(0, 'B', bind_body("a"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'H', "");
  rig.deliver();
  CHECK(shapes(rig.client(0).through_pooler) == "1 2 C ");
  rig.send(0, 'B', bind_body("missing"));
  rig.send(0, 'H', "");
  rig.deliver();
  CHECK(rig.replies().skipping());
  rig.send(0, 'P', parse_body("c", "SELECT 3"));
  rig.send(0, 'H', "");
  rig.deliver();
  CHECK(shapes(rig.client(0).through_pooler) == "1 2 C E26000 ");
  rig.send(0, 'S', "");
  rig.deliver();
  check_transparent(rig, 0);
  CHECK(rig.replies().idle());
}

TEST_CASE("messages split into 1-byte reads, framed by the caller, give the same result") {
  std::string stream;
  auto add = [&stream](char type, const std::string& body) {
    std::size_t at = pooler::protocol::begin_message(stream, type);
    stream += body;
    pooler::protocol::finish_message(stream, at);
  };
  add('P', parse_body("a", "SELECT $1", 1));
  add('B', bind_body("a"));
  add('E', execute_body());
  add('P', parse_body("a2", "SELECT $1", 1));
  add('C', named_body('S', "a"));
  add('S', "");
  PoolRig whole(1, 10);
  PoolRig bytewise(1, 10);
  bool ok = true;
  for (const WireMessage& m : split_messages(stream, ok)) whole.send(0, m.type, m.body);
  std::string buffer;
  for (char byte : stream) {
    buffer.push_back(byte);
    auto frame = pooler::protocol::frame_typed(pooler::util::as_bytes(buffer), 1 << 20);
    if (!frame.complete()) continue;
    bytewise.send(0, frame.type, std::string(pooler::util::as_chars(frame.body)));
    buffer.erase(0, frame.size);
  }
  whole.deliver();
  bytewise.deliver();
  CHECK(buffer.empty());
  CHECK(whole.sent_to_server == bytewise.sent_to_server);
  CHECK(whole.client(0).through_pooler == bytewise.client(0).through_pooler);
  check_transparent(bytewise, 0);
}

TEST_CASE("with max_prepared_statements = 0 every message passes untouched") {
  PoolRig rig(1, 0);
  run_prepared(rig, 0, "a", "SELECT 1");
  CHECK(sent(rig.sent_to_server) == "P:a B:a E S ");
  check_transparent(rig, 0);
  CHECK(rig.counters().client_parse_count == 0);
}

TEST_CASE("DEALLOCATE and DISCARD are recognised as PostgreSQL reads them") {
  using Kind = DeallocateCommand::Kind;
  CHECK(parse_deallocate("DEALLOCATE ALL").kind == Kind::kDeallocateAll);
  CHECK(parse_deallocate("  deallocate prepare all;  \n").kind == Kind::kDeallocateAll);
  CHECK(parse_deallocate("Discard All;").kind == Kind::kDiscardAll);
  CHECK(parse_deallocate("DEALLOCATE Foo").name == "foo");
  CHECK(parse_deallocate("DEALLOCATE \"Fo\"\"o\"").name == "Fo\"o");
  CHECK(parse_deallocate("DEALLOCATE prepare").name == "prepare");
  CHECK(parse_deallocate("DISCARD PLANS").kind == Kind::kNone);
  CHECK(parse_deallocate("DEALLOCATE a b").kind == Kind::kNone);
  CHECK(parse_deallocate("SELECT 1").kind == Kind::kNone);
  CHECK(parse_deallocate("DEALLOCATE \"open").kind == Kind::kNone);
  CHECK(parse_deallocate("DEALLOCATE 1x").kind == Kind::kNone);
}

TEST_CASE("a skipped repeat Parse of the same text leaves the client's statement in place") {
  PoolRig rig(1, 2);
  run_prepared(rig, 0, "a", "SELECT 1");
  rig.send(0, 'B', bind_body("zz"));
  rig.send(0, 'P', parse_body("a", "SELECT 1"));
  rig.send(0, 'S', "");
  rig.deliver();
  REQUIRE(rig.client(0).names.find("a") != nullptr);
  rig.send(0, 'D', named_body('S', "a"));
  rig.send(0, 'S', "");
  rig.deliver();
  check_transparent(rig, 0);
}

TEST_CASE("what follows DISCARD ALL in a pipeline does not rely on the server's statements") {
  PoolRig rig(1, 5);
  run_prepared(rig, 0, "a", "SELECT 1");
  rig.send(0, 'Q', query_body("discard all;"));
  rig.send(0, 'P', parse_body("a", "SELECT 1"));
  rig.send(0, 'D', named_body('S', "a"));
  rig.send(0, 'S', "");
  rig.deliver();
  check_transparent(rig, 0);
  CHECK(rig.server().statements().size() == 1);
}
