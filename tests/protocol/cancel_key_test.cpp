// Peering's cancel-key layout, byte for byte as PgBouncer writes it.
#include "pooler/protocol/cancel_key.hpp"

#include <doctest/doctest.h>

#include <array>

#include "pooler/protocol/message_builder.hpp"

namespace pooler::protocol {
namespace {

// The 8 key bytes as a CancelRequest carries them (after its length and code).
std::array<unsigned char, 8> wire_bytes(std::int32_t pid, std::int32_t key) {
  std::string packet;
  append_cancel_request(packet, pid, key);
  REQUIRE(packet.size() == 16);
  std::array<unsigned char, 8> bytes{};
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(packet[8 + i]);
  return bytes;
}

TEST_CASE("a stamped key carries the peer id in bytes 2 and 3 and three hops in the last") {
  std::int32_t pid = static_cast<std::int32_t>(0xFFFFFFFFU);  // every random bit set
  std::int32_t key = 0x10203040;
  stamp_cancel_key(pid, key, 0x1234);
  auto bytes = wire_bytes(pid, key);
  CHECK(bytes[0] == 0x7F);  // the sign bit cleared, the rest random
  CHECK(bytes[1] == 0x34);  // the id's low byte
  CHECK(bytes[2] == 0x12);  // its high byte
  CHECK(bytes[3] == 0xFF);
  CHECK(bytes[7] == 0x43);  // 0x40 with both hop bits set
  CHECK(pid > 0);
  CHECK(cancel_key_peer(pid) == 0x1234);
  CHECK(cancel_key_hops(key) == kCancelHops);
}

TEST_CASE("each forward spends one hop and leaves the rest of the key alone") {
  std::int32_t pid = 0x0ABCDEF0;
  std::int32_t key = 0;
  stamp_cancel_key(pid, key, kMaxPeerId);
  CHECK(cancel_key_peer(pid) == kMaxPeerId);
  std::int32_t once = spend_cancel_hop(key);
  CHECK(cancel_key_hops(once) == 2);
  CHECK(cancel_key_hops(spend_cancel_hop(spend_cancel_hop(once))) == 0);
  CHECK((once & ~0x03) == (key & ~0x03));
  CHECK(with_every_hop(spend_cancel_hop(once)) == key);
}

TEST_CASE("an unstamped key names no peer when its middle bytes are zero") {
  CHECK(cancel_key_peer(0x7F0000AB) == 0);
  CHECK(cancel_key_peer(0x00010000) == 1);
}

}  // namespace
}  // namespace pooler::protocol
