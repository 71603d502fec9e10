// The first packet of a connection: a StartupMessage, an SSL/GSS encryption request, or a
// CancelRequest, decoded from a framed startup packet body.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

struct StartupMessage {
  std::vector<std::pair<std::string, std::string>> parameters;  // in arrival order
  // A 3.x client newer than 3.0, or one sending "_pq_." protocol options, is answered with
  // NegotiateProtocolVersion (as PostgreSQL does) instead of being refused.
  int requested_minor = 0;
  std::vector<std::string> protocol_options;  // "_pq_.*" names, none of which are supported
  const std::string* find(std::string_view name) const;
};
struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  std::int32_t pid = 0;
  std::int32_t key = 0;
};
struct BadStartup {
  std::string sqlstate;
  std::string message;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest,
                                   BadStartup>;

// Decodes the body of a framed startup packet (after the length field).
StartupPacket parse_startup(util::Bytes body);

}  // namespace pooler::protocol
