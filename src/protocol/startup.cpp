// Decoding of startup-phase packets; anything but protocol 3.0 or a known request code is
// refused with the SQLSTATE PostgreSQL itself would use.
#include "pooler/protocol/startup.hpp"

#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::protocol {

const std::string* StartupMessage::find(std::string_view name) const {
  for (const auto& [key, value] : parameters) {
    if (key == name) return &value;
  }
  return nullptr;
}

StartupPacket parse_startup(util::Bytes body) {
  util::ByteReader r(body);
  auto code = r.i32();
  if (!code) return BadStartup{sqlstate::kProtocolViolation, "invalid startup packet"};
  if (*code == kSslRequestCode && r.remaining() == 0) return SslRequest{};
  if (*code == kGssEncRequestCode && r.remaining() == 0) return GssEncRequest{};
  if (*code == kCancelRequestCode) {
    auto pid = r.i32();
    auto key = r.i32();
    if (!pid || !key || r.remaining() != 0) {
      return BadStartup{sqlstate::kProtocolViolation, "invalid cancel request"};
    }
    return CancelRequest{*pid, *key};
  }
  auto major = static_cast<std::uint32_t>(*code) >> 16;
  if (major != 3) {
    auto minor = static_cast<std::uint32_t>(*code) & 0xffff;
    return BadStartup{sqlstate::kFeatureNotSupported,
                      "unsupported frontend protocol " + std::to_string(major) + "." +
                          std::to_string(minor) + ": server supports 3.0"};
  }
  StartupMessage message;
  message.requested_minor = static_cast<int>(static_cast<std::uint32_t>(*code) & 0xffff);
  while (true) {
    auto name = r.cstring();
    if (!name) return BadStartup{sqlstate::kProtocolViolation, "invalid startup packet layout"};
    if (name->empty()) break;
    auto value = r.cstring();
    if (!value) return BadStartup{sqlstate::kProtocolViolation, "invalid startup packet layout"};
    if (name->starts_with("_pq_.")) {
      message.protocol_options.emplace_back(*name);
      continue;
    }
    message.parameters.emplace_back(std::string(*name), std::string(*value));
  }
  if (r.remaining() != 0) {
    return BadStartup{sqlstate::kProtocolViolation, "invalid startup packet layout"};
  }
  return message;
}

}  // namespace pooler::protocol
