// MessageSplitter: the types asked for arrive whole however the stream is cut; the others pass
// through in pieces, so a huge message is never held.
#include "pooler/protocol/message_splitter.hpp"

#include <doctest/doctest.h>

#include <string>

#include "pooler/protocol/message_builder.hpp"

using pooler::protocol::MessageSplitter;
namespace util = pooler::util;

namespace {

std::string message(char type, const std::string& body) {
  std::string out;
  std::size_t at = pooler::protocol::begin_message(out, type);
  out += body;
  pooler::protocol::finish_message(out, at);
  return out;
}

struct Seen {
  std::string whole;   // "type:body;" for each whole message
  std::string passed;  // the bytes passed through, concatenated
  std::size_t largest_piece = 0;
};

Seen feed_in_pieces(const std::string& stream, std::size_t piece, bool* ok = nullptr) {
  MessageSplitter splitter(1 << 20, "PBS");
  Seen seen;
  bool fine = true;
  for (std::size_t at = 0; at < stream.size() && fine; at += piece) {
    std::string read = stream.substr(at, piece);
    fine = splitter.feed(
        util::as_bytes(read),
        [&](char type, util::Bytes body) {
          seen.whole += std::string(1, type) + ":" + std::string(util::as_chars(body)) + ";";
        },
        [&](util::Bytes bytes) {
          seen.passed += util::as_chars(bytes);
          seen.largest_piece = std::max(seen.largest_piece, bytes.size());
        });
  }
  if (ok != nullptr) *ok = fine && splitter.at_boundary();
  return seen;
}

}  // namespace

TEST_CASE("whole types arrive whole and the rest passes through unchanged, however cut") {
  std::string copy_data = message('d', std::string(300, 'x'));
  std::string stream = message('P', std::string("s1\0SELECT 1\0\0\0", 14)) + copy_data +
                       message('B', "bind") + message('H', "") + message('S', "");
  std::string expected_whole =
      "P:" + std::string("s1\0SELECT 1\0\0\0", 14) + ";B:bind;S:;";
  for (std::size_t piece : {1, 2, 4, 5, 6, 7, 64, 4096}) {
    CAPTURE(piece);
    bool ok = false;
    Seen seen = feed_in_pieces(stream, piece, &ok);
    CHECK(ok);
    CHECK(seen.whole == expected_whole);
    CHECK(seen.passed == copy_data + message('H', ""));
  }
}

TEST_CASE("a message passed through is handed on as its bytes arrive, not gathered") {
  std::string big = message('d', std::string(10000, 'y'));
  Seen seen = feed_in_pieces(big, 1000);
  CHECK(seen.passed == big);
  CHECK(seen.largest_piece <= 1000);
}

TEST_CASE("a length below 4 or past max_packet_size is malformed") {
  bool ok = true;
  feed_in_pieces(std::string("S\0\0\0\3", 5), 5, &ok);
  CHECK_FALSE(ok);
  MessageSplitter splitter(100, "P");
  std::string too_long = message('P', std::string(200, 'z'));
  CHECK_FALSE(splitter.feed(
      util::as_bytes(too_long), [](char, util::Bytes) {}, [](util::Bytes) {}));
}
