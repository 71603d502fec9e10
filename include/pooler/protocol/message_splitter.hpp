// MessageSplitter: cuts a byte stream arriving in arbitrary chunks into whole messages of the
// types its owner must read, and passes every other message through in pieces, so a huge
// CopyData never has to sit in memory whole.
#pragma once

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pooler/protocol/message_header.hpp"
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
      if (header_.empty() && chunk.size() - pos >= MessageHeader::kSize) {
        // The common case: the whole message is in this chunk, nothing is copied.
        auto type = static_cast<unsigned char>(chunk[pos]);
        std::uint32_t length = util::load_be32(chunk.data() + pos + 1);
        if (!valid_message_length(length, max_packet_size_)) return false;
        std::size_t size = std::size_t(length) + 1;
        if (chunk.size() - pos >= size) {
          if (whole_types_.test(type)) {
            on_whole(static_cast<char>(type),
                     chunk.subspan(pos + MessageHeader::kSize, size - MessageHeader::kSize));
          } else {
            on_bytes(chunk.subspan(pos, size));
          }
          pos += size;
          continue;
        }
      }
      if (!header_.whole()) {
        if (!header_.gather(chunk, pos)) break;
        if (!valid_message_length(header_.length(), max_packet_size_)) return false;
        remaining_ = header_.length() - 4;
        whole_ = whole_types_.test(header_.type());
        if (!whole_) on_bytes(header_.bytes());
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
        header_.clear();
        if (whole_) {
          on_whole(static_cast<char>(header_.type()), util::as_bytes(body_));
          release_body();
        }
      }
    }
    return true;
  }

  // True between messages.
  bool at_boundary() const { return header_.empty(); }

 private:
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
  MessageHeader header_;
  std::uint32_t remaining_ = 0;
  bool whole_ = false;
  std::string body_;
};

}  // namespace pooler::protocol
