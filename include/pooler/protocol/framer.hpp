// Message framing: where one message ends, for typed messages (1 type byte + int32 length) and
// for the untyped startup-phase packets (int32 length + int32 code). Pure and bounds-checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

struct Frame {
  enum class Kind { kFrame, kNeedMoreData, kMalformed };
  Kind kind = Kind::kNeedMoreData;
  char type = 0;          // typed messages only
  util::Bytes body;       // the payload after the header
  std::size_t size = 0;   // header + body: bytes to consume
  std::string error;      // kMalformed: why

  bool complete() const { return kind == Kind::kFrame; }
  bool malformed() const { return kind == Kind::kMalformed; }
};

inline constexpr std::size_t kTypedHeaderSize = 5;
// PostgreSQL's own cap for the startup packet (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::size_t kMaxStartupPacket = 10000;

// Frames a typed message at the front of `data`. A length below 4 or above max_packet_size is
// malformed.
Frame frame_typed(util::Bytes data, std::size_t max_packet_size);

// Frames a startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
Frame frame_startup(util::Bytes data);

}  // namespace pooler::protocol
