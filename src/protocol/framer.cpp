// Framing rules of protocol 3.0: lengths count themselves but not the type byte.
#include "pooler/protocol/framer.hpp"

namespace pooler::protocol {

namespace {

Frame malformed(std::string why) {
  Frame f;
  f.kind = Frame::Kind::kMalformed;
  f.error = std::move(why);
  return f;
}

}  // namespace

Frame frame_typed(util::Bytes data, std::size_t max_packet_size) {
  if (data.size() < kTypedHeaderSize) return {};
  std::uint32_t length = util::load_be32(data.data() + 1);
  if (length < 4) return malformed("invalid message length");
  if (length > max_packet_size) return malformed("message exceeds max_packet_size");
  std::size_t total = std::size_t{length} + 1;
  if (data.size() < total) return {};
  Frame f;
  f.kind = Frame::Kind::kFrame;
  f.type = static_cast<char>(data[0]);
  f.body = data.subspan(kTypedHeaderSize, total - kTypedHeaderSize);
  f.size = total;
  return f;
}

Frame frame_startup(util::Bytes data) {
  if (data.size() < 4) return {};
  std::uint32_t length = util::load_be32(data.data());
  if (length < 8 || length > kMaxStartupPacket) return malformed("invalid startup packet length");
  if (data.size() < length) return {};
  Frame f;
  f.kind = Frame::Kind::kFrame;
  f.body = data.subspan(4, length - 4);
  f.size = length;
  return f;
}

}  // namespace pooler::protocol
