// A server's replies read in arbitrary pieces come out of the ReplySplicer exactly as the reply
// filter would shape them message by message: hidden ParseCompletes cut, made-up answers spliced.
#include "pooler/protocol/reply_splicer.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "fake_postgres.hpp"

using namespace pooler::testing;

namespace {

// Client 0 prepares on the server; client 1 then uses the same text under its own name, closes
// it, and deallocates: hidden Parses, made-up ParseComplete/CloseComplete, a made-up
// DEALLOCATE answer behind server replies, and an error that skips the rest to Sync.
void script(PoolRig& rig, const std::function<void(PoolRig&)>& deliver) {
  rig.send(0, 'P', parse_body("a", "SELECT 1"));
  rig.send(0, 'B', bind_body("a"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'S', "");
  deliver(rig);
  rig.new_server(10);  // the next server lacks it: a hidden Parse goes first
  rig.send(0, 'B', bind_body("a"));
  rig.send(0, 'E', execute_body());
  rig.send(0, 'S', "");
  deliver(rig);
  rig.send(1, 'P', parse_body("b", "SELECT 1"));
  rig.send(1, 'B', bind_body("b"));
  rig.send(1, 'E', execute_body());
  rig.send(1, 'C', named_body('S', "b"));
  rig.send(1, 'S', "");
  rig.send(1, 'Q', query_body("SELECT 2"));
  rig.send(1, 'Q', query_body("DEALLOCATE ALL"));
  deliver(rig);
  rig.send(1, 'P', parse_body("c", "SELECT 3"));
  rig.send(1, 'B', bind_body("never_prepared"));
  rig.send(1, 'B', bind_body("c"));
  rig.send(1, 'E', execute_body());
  rig.send(1, 'S', "");
  deliver(rig);
}

std::string through(PoolRig& rig) {
  return rig.client(0).through_pooler + "|" + rig.client(1).through_pooler;
}

}  // namespace

TEST_CASE("replies read in any piece size reach the client as filtered message by message") {
  PoolRig whole(2, 10);
  script(whole, [](PoolRig& r) { r.deliver(); });
  CHECK(shapes(whole.client(1).through_pooler) == "1 2 C 3 Z C Z C Z 1 E26000 Z ");
  for (std::size_t piece : {1, 2, 3, 5, 7, 64}) {
    CAPTURE(piece);
    PoolRig pieces(2, 10);
    bool every_read_settled = true;
    script(pieces, [&](PoolRig& r) { every_read_settled &= r.deliver_in_pieces(piece); });
    CHECK(through(pieces) == through(whole));
    CHECK(every_read_settled);
  }
}

TEST_CASE("a cut header is held back, not passed on, until its message is whole") {
  PoolRig rig(1, 10);
  rig.new_server(10);
  rig.send(0, 'P', parse_body("a", "SELECT 1"));
  rig.send(0, 'S', "");
  rig.deliver();
  rig.client(0).through_pooler.clear();
  rig.new_server(10);
  rig.send(0, 'B', bind_body("a"));  // the server lacks it: Parse (hidden) + Bind
  rig.send(0, 'S', "");
  // ParseComplete '1' (hidden), BindComplete '2', ReadyForQuery: in reads of 2 bytes the
  // hidden message's header is cut; nothing of it may reach the client.
  CHECK(rig.deliver_in_pieces(2));
  CHECK(shapes(rig.client(0).through_pooler) == "2 Z ");
}

TEST_CASE("a malformed length is reported, not spliced") {
  pooler::protocol::ReplySplicer splicer;
  pooler::protocol::MessageScanner scanner(1 << 20, "ZSEC");
  pooler::protocol::ReplyFilter filter;
  pooler::protocol::ClientStatements names;
  pooler::protocol::ServerStatements server(10);
  std::string bad("Z\0\0\0\2", 5);
  auto spliced = splicer.splice(pooler::util::as_bytes(bad), scanner, filter, {names, server},
                                [](char, pooler::util::Bytes) {});
  CHECK_FALSE(spliced.has_value());
}
