// MessageHeader: the five bytes that open a typed message (type, int32 length), gathered across
// reads, for the stream walkers that must know where each message ends.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

// A length word PostgreSQL would accept: it counts itself, and stays within max_packet_size.
inline bool valid_message_length(std::uint32_t length, std::size_t max_packet_size) {
  return length >= 4 && length <= max_packet_size;
}

class MessageHeader {
 public:
  static constexpr std::size_t kSize = 5;

  // Copies header bytes from `chunk` at `pos`, advancing it; true once all five are in.
  bool gather(util::Bytes chunk, std::size_t& pos) {
    std::size_t take = std::min(kSize - len_, chunk.size() - pos);
    std::memcpy(bytes_ + len_, chunk.data() + pos, take);
    len_ += take;
    pos += take;
    return whole();
  }
  bool whole() const { return len_ == kSize; }
  // Nothing of a message seen: the stream is between messages.
  bool empty() const { return len_ == 0; }
  // Part of a header seen: the message's type and length are not known yet.
  bool partial() const { return len_ > 0 && len_ < kSize; }
  void clear() { len_ = 0; }

  unsigned char type() const { return bytes_[0]; }
  std::uint32_t length() const { return util::load_be32(bytes_ + 1); }
  util::Bytes bytes() const { return util::Bytes(bytes_, kSize); }

 private:
  std::uint8_t bytes_[kSize] = {};
  std::uint8_t len_ = 0;  // at most kSize
};

}  // namespace pooler::protocol
