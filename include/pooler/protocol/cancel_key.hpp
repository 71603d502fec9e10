// Peering's layout of a cancel key, as PgBouncer 1.19+ has it, so that poolers and PgBouncers
// peered together understand each other's keys. Of the 8 bytes of BackendKeyData (the pid, then
// the secret, each big-endian), the 2nd and 3rd carry the issuing peer's id (low byte first) and
// the low 2 bits of the last one how many more times a peer may forward it.
#pragma once

#include <cstdint>

namespace pooler::protocol {

constexpr int kMaxPeerId = 16383;
constexpr int kCancelHops = 3;  // a fresh key may be forwarded this many times

// The peer id a key was issued with (0: none).
int cancel_key_peer(std::int32_t pid);
// Forwards left before the key is dropped.
int cancel_key_hops(std::int32_t key);
// Writes `peer_id` and a full hop count into random (pid, key); keeps the pid positive, as
// PgBouncer does (pg_basebackup once choked on a negative one).
void stamp_cancel_key(std::int32_t& pid, std::int32_t& key, int peer_id);
// The key to forward: one hop spent. Only for a key with hops left.
std::int32_t spend_cancel_hop(std::int32_t key);
// The key as this peer issued and keeps it, every hop left: what a forwarded request is
// compared against.
std::int32_t with_every_hop(std::int32_t key);

}  // namespace pooler::protocol
