// MessageSplitter: cuts a byte stream arriving in arbitrary chunks into whole messages of the
// types its owner must read, and passes every other message through in pieces, so a huge
// CopyData never has to sit in memory whole.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

class MessageSplitter {
 public:
  MessageSplitter(std::size_t max_packet_size, std::string_view whole_types)
      : max_packet_size_(max_packet_size) {
    for (char t : whole_types) whole_types_.set(static_cast<unsigned char>(t));
  }

  // Walks `chunk`: on_whole(type, body) for each complete message of a whole type (its body is
  // copied only when it spans chunks), on_bytes(bytes) for the pieces of every other message,
  // header included, in stream order. Returns false on a malformed length; the splitter must not
  // be used again then.
  template <typename OnWhole, typename OnBytes>
  bool feed(util::Bytes chunk, OnWhole&& on_whole, OnBytes&& on_bytes) {
    std::size_t pos = 0;
    while (pos < chunk.size()) {
      if (header_len_ == 0 && chunk.size() - pos >= kHeader) {
        // The common case: the whole message is in this chunk, nothing is copied.
        auto type = static_cast<unsigned char>(chunk[pos]);
        std::uint32_t length = util::load_be32(chunk.data() + pos + 1);
        if (length < 4 || length > max_packet_size_) return false;
        std::size_t size = std::size_t(length) + 1;
        if (chunk.size() - pos >= size) {
          if (whole_types_.test(type)) {
            on_whole(static_cast<char>(type), chunk.subspan(pos + kHeader, size - kHeader));
          } else {
            on_bytes(chunk.subspan(pos, size));
          }
          pos += size;
          continue;
        }
      }
      if (header_len_ < kHeader) {
        std::size_t take = std::min(kHeader - header_len_, chunk.size() - pos);
        std::memcpy(header_ + header_len_, chunk.data() + pos, take);
        header_len_ += take;
        pos += take;
        if (header_len_ < kHeader) break;
        std::uint32_t length = util::load_be32(header_ + 1);
        if (length < 4 || length > max_packet_size_) return false;
        remaining_ = length - 4;
        whole_ = whole_types_.test(header_[0]);
        if (!whole_) on_bytes(util::Bytes(header_, kHeader));
      }
      std::size_t take = std::min<std::size_t>(remaining_, chunk.size() - pos);
      if (whole_) {
        body_.append(reinterpret_cast<const char*>(chunk.data() + pos), take);
      } else if (take > 0) {
        on_bytes(chunk.subspan(pos, take));
      }
      pos += take;
      remaining_ -= take;
      if (remaining_ == 0) {
        header_len_ = 0;
        if (whole_) {
          on_whole(static_cast<char>(header_[0]), util::as_bytes(body_));
          release_body();
        }
      }
    }
    return true;
  }

  // True between messages.
  bool at_boundary() const { return header_len_ == 0; }

 private:
  static constexpr std::size_t kHeader = 5;
  // A big message's copy is not kept for the life of the connection.
  static constexpr std::size_t kKeptCapacity = 64 * 1024;

  void release_body() {
    if (body_.capacity() > kKeptCapacity) {
      std::string().swap(body_);
    } else {
      body_.clear();
    }
  }

  std::size_t max_packet_size_;
  std::bitset<256> whole_types_;
  std::uint8_t header_[kHeader] = {};
  std::size_t header_len_ = 0;
  std::uint32_t remaining_ = 0;
  bool whole_ = false;
  std::string body_;
};

}  // namespace pooler::protocol
