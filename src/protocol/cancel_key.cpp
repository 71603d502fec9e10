// Peering's cancel-key layout: bytes 1 and 2 of the pid hold the peer id, the secret's last two
// bits the hops left.
#include "pooler/protocol/cancel_key.hpp"

namespace pooler::protocol {

namespace {

constexpr std::uint32_t kHopMask = 0x03;

}  // namespace

int cancel_key_peer(std::int32_t pid) {
  auto bits = static_cast<std::uint32_t>(pid);
  // Byte 1 on the wire is bits 16-23 of the big-endian pid (the id's low byte), byte 2 bits 8-15.
  return static_cast<int>(((bits >> 16) & 0xFF) | (((bits >> 8) & 0xFF) << 8));
}

int cancel_key_hops(std::int32_t key) {
  return static_cast<int>(static_cast<std::uint32_t>(key) & kHopMask);
}

void stamp_cancel_key(std::int32_t& pid, std::int32_t& key, int peer_id) {
  auto id = static_cast<std::uint32_t>(peer_id);
  auto bits = static_cast<std::uint32_t>(pid) & 0x7F0000FFU;
  bits |= (id & 0xFF) << 16;
  bits |= ((id >> 8) & 0xFF) << 8;
  pid = static_cast<std::int32_t>(bits);
  key = with_every_hop(key);
}

std::int32_t with_every_hop(std::int32_t key) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(key) | kHopMask);
}

std::int32_t spend_cancel_hop(std::int32_t key) {
  // The hop count is the lowest bits: one less is the key minus one.
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(key) - 1);
}

}  // namespace pooler::protocol
