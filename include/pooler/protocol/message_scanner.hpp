// MessageScanner: finds message boundaries in a byte stream that arrives in arbitrary chunks,
// so the forwarder can pass bytes through untouched while still seeing each message's type.
// Bodies are captured only for the types the owner asks for (e.g. ReadyForQuery).
#pragma once

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>

#include "pooler/protocol/message_header.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

class MessageScanner {
 public:
  // Bodies larger than this are not captured whole (only their prefix): the pooler never needs
  // more of the messages it inspects, and it keeps the per-connection memory bounded.
  static constexpr std::size_t kMaxCapture = 64 * 1024;

  MessageScanner(std::size_t max_packet_size, std::string_view captured_types)
      : max_packet_size_(static_cast<std::uint32_t>(
            std::min<std::size_t>(max_packet_size, UINT32_MAX))) {
    for (char t : captured_types) {
      if (static_cast<unsigned char>(t) < kTypes) captured_.set(static_cast<unsigned char>(t));
    }
  }

  // Walks `chunk`, calling on_message(type, body) at the end of each message (body is empty for
  // types not captured). on_message returns false to stop early. Returns false when the stream
  // is malformed (bad length); the scanner must not be used again then.
  template <typename OnMessage>
  bool scan(util::Bytes chunk, OnMessage&& on_message) {
    std::size_t pos = 0;
    while (pos < chunk.size()) {
      if (!header_.whole()) {
        if (!header_.gather(chunk, pos)) break;
        if (!valid_message_length(header_.length(), max_packet_size_)) return false;
        remaining_ = header_.length() - 4;
        capturing_ = header_.type() < kTypes && captured_[header_.type()];
        if (capturing_) {
          if (!body_) body_ = std::make_unique<std::string>();
          body_->clear();
        }
      }
      std::size_t take = std::min<std::size_t>(remaining_, chunk.size() - pos);
      if (capturing_ && body_->size() < kMaxCapture) {
        body_->append(reinterpret_cast<const char*>(chunk.data() + pos),
                      std::min(take, kMaxCapture - body_->size()));
      }
      pos += take;
      remaining_ -= take;
      if (remaining_ == 0) {
        header_.clear();
        message_end_ = pos;
        util::Bytes body = capturing_ ? util::as_bytes(*body_) : util::Bytes{};
        if (!on_message(static_cast<char>(header_.type()), body)) return true;
      }
    }
    return true;
  }

  // During on_message: the offset in the current chunk just past the message.
  std::size_t message_end() const { return message_end_; }
  // True between messages: nothing of a partial message has been seen.
  bool at_boundary() const { return header_.empty(); }
  // Part of a header seen, not all of it: the message's type and length are not known yet.
  bool in_header() const { return header_.partial(); }
  void reset() { header_.clear(); }

 private:
  // Message types are ASCII: a type byte from 128 up is never one the owner asks for.
  static constexpr std::size_t kTypes = 128;
  std::uint32_t max_packet_size_;
  std::uint32_t remaining_ = 0;
  std::bitset<kTypes> captured_;
  MessageHeader header_;
  bool capturing_ = false;
  std::size_t message_end_ = 0;
  // Made at the first captured message: a scanner that captures nothing (a client's) has none.
  std::unique_ptr<std::string> body_;
};

}  // namespace pooler::protocol
