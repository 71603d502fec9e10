// MessageScanner over a stream cut every possible way: whole, one byte at a time and in random
// chunks must all report the same messages, offsets and boundaries.
#include "pooler/protocol/message_scanner.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pooler/util/bytes.hpp"

using pooler::protocol::MessageScanner;
using pooler::util::as_bytes;
using pooler::util::ByteWriter;
using namespace std::string_view_literals;

namespace {

constexpr std::size_t kMaxPacket = 1 << 20;
constexpr std::string_view kCaptured = "ZSE";

struct Seen {
  char type;
  std::string body;
  std::size_t end;  // offset in the whole stream just past the message
  bool operator==(const Seen&) const = default;
};

std::string typed(char type, std::string_view body) {
  std::string out(1, type);
  ByteWriter(out).i32(static_cast<std::int32_t>(body.size() + 4));
  out.append(body);
  return out;
}

// A realistic response stream: captured and uncaptured types, an empty body, a long row.
std::string sample_stream() {
  std::string s;
  s += typed('S', "TimeZone\0UTC\0"sv);
  s += typed('1', "");
  s += typed('T', std::string(40, 't'));
  s += typed('D', std::string(300, 'd'));
  s += typed('C', "SELECT 1\0"sv);
  s += typed('E', "SERROR\0VERROR\0C42601\0Mboom\0\0"sv);
  s += typed('Z', "I");
  s += typed('Z', "T");
  return s;
}

// What the stream contains, as the scanner should report it.
std::vector<Seen> expected_messages(std::string_view stream) {
  std::vector<Seen> out;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    char type = stream[pos];
    auto length = pooler::util::load_be32(reinterpret_cast<const std::uint8_t*>(&stream[pos + 1]));
    std::string body;
    if (kCaptured.find(type) != std::string_view::npos) {
      body = std::string(stream.substr(pos + 5, length - 4));
    }
    pos += 1 + length;
    out.push_back({type, body, pos});
  }
  return out;
}

// Feeds `stream` in chunks of `sizes` (repeated), recording each message with its offset
// in the whole stream.
std::vector<Seen> scan_in_chunks(std::string_view stream, const std::vector<std::size_t>& sizes) {
  MessageScanner scanner(kMaxPacket, kCaptured);
  std::vector<Seen> seen;
  std::size_t pos = 0;
  std::size_t i = 0;
  while (pos < stream.size()) {
    std::size_t n = std::min(sizes[i++ % sizes.size()], stream.size() - pos);
    std::string chunk(stream.substr(pos, n));  // a separate buffer: nothing may point back into it
    bool ok = scanner.scan(as_bytes(chunk), [&](char type, pooler::util::Bytes body) {
      seen.push_back(
          {type, std::string(pooler::util::as_chars(body)), pos + scanner.message_end()});
      return true;
    });
    if (!ok) {
      FAIL("scan reported a malformed stream at offset " << pos);
    }
    pos += n;
  }
  CHECK(scanner.at_boundary());
  return seen;
}

}  // namespace

TEST_CASE("a stream fed whole reports every message with captured bodies and end offsets") {
  std::string stream = sample_stream();
  auto seen = scan_in_chunks(stream, {stream.size()});
  CHECK(seen == expected_messages(stream));
  REQUIRE(seen.size() == 8);
  CHECK(seen[0].type == 'S');
  CHECK(seen[0].body == "TimeZone\0UTC\0"sv);
  CHECK(seen[6].body == "I");
  CHECK(seen[7].body == "T");
  CHECK(seen[7].end == stream.size());
}

TEST_CASE("uncaptured message types are reported with empty bodies") {
  std::string stream = sample_stream();
  auto seen = scan_in_chunks(stream, {stream.size()});
  REQUIRE(seen.size() == 8);
  for (std::size_t i : {1u, 2u, 3u, 4u}) {
    CAPTURE(i);
    CHECK(seen[i].body.empty());
  }
  CHECK(seen[1].type == '1');
  CHECK(seen[3].type == 'D');
}

TEST_CASE("a stream fed one byte at a time frames the same as whole") {
  std::string stream = sample_stream();
  CHECK(scan_in_chunks(stream, {1}) == scan_in_chunks(stream, {stream.size()}));
}

TEST_CASE("a stream fed in random chunk sizes frames the same as whole") {
  std::string stream = sample_stream();
  auto whole = scan_in_chunks(stream, {stream.size()});
  std::mt19937 rng(20240611);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<std::size_t> size(1, round % 2 == 0 ? 7 : 120);
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 64; ++i) {
      sizes.push_back(size(rng));
    }
    CAPTURE(round);
    CHECK(scan_in_chunks(stream, sizes) == whole);
  }
}

TEST_CASE("a chunk cut at every single offset frames the same as whole") {
  std::string stream = sample_stream();
  auto whole = scan_in_chunks(stream, {stream.size()});
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    CAPTURE(cut);
    CHECK(scan_in_chunks(stream, {cut, stream.size()}) == whole);
  }
}

TEST_CASE("the scanner is at a boundary only between messages") {
  std::string stream = sample_stream();
  std::vector<bool> boundary_after(stream.size() + 1, false);
  boundary_after[0] = true;
  for (const auto& m : expected_messages(stream)) {
    boundary_after[m.end] = true;
  }
  MessageScanner scanner(kMaxPacket, kCaptured);
  CHECK(scanner.at_boundary());
  for (std::size_t i = 0; i < stream.size(); ++i) {
    REQUIRE(scanner.scan(as_bytes(std::string_view(stream).substr(i, 1)),
                         [](char, pooler::util::Bytes) { return true; }));
    CAPTURE(i);
    CHECK(scanner.at_boundary() == boundary_after[i + 1]);
  }
}

TEST_CASE("message_end is the offset within the current chunk just past each message") {
  std::string a = typed('Z', "I");
  std::string b = typed('C', "SELECT 1\0"sv);
  std::string stream = a + b;
  MessageScanner scanner(kMaxPacket, "");
  std::vector<std::size_t> ends;
  REQUIRE(scanner.scan(as_bytes(stream), [&](char, pooler::util::Bytes) {
    ends.push_back(scanner.message_end());
    return true;
  }));
  CHECK(ends == std::vector<std::size_t>{a.size(), a.size() + b.size()});

  // Split in the middle of the second message: its end is counted in the second chunk.
  ends.clear();
  std::size_t cut = a.size() + 3;
  REQUIRE(scanner.scan(as_bytes(std::string_view(stream).substr(0, cut)),
                       [&](char, pooler::util::Bytes) {
                         ends.push_back(scanner.message_end());
                         return true;
                       }));
  REQUIRE(
      scanner.scan(as_bytes(std::string_view(stream).substr(cut)), [&](char, pooler::util::Bytes) {
        ends.push_back(scanner.message_end());
        return true;
      }));
  CHECK(ends == std::vector<std::size_t>{a.size(), stream.size() - cut});
}

TEST_CASE("returning false from on_message stops the scan right after that message") {
  std::string a = typed('Z', "I");
  std::string stream = a + typed('S', "a\0b\0"sv) + typed('Z', "E");
  MessageScanner scanner(kMaxPacket, kCaptured);
  std::vector<char> types;
  REQUIRE(scanner.scan(as_bytes(stream), [&](char type, pooler::util::Bytes) {
    types.push_back(type);
    return false;
  }));
  CHECK(types == std::vector<char>{'Z'});
  CHECK(scanner.message_end() == a.size());
  CHECK(scanner.at_boundary());
  // The rest, fed again from message_end, continues where it stopped.
  REQUIRE(scanner.scan(as_bytes(std::string_view(stream).substr(a.size())),
                       [&](char type, pooler::util::Bytes) {
                         types.push_back(type);
                         return true;
                       }));
  CHECK(types == std::vector<char>{'Z', 'S', 'Z'});
}

TEST_CASE("a message length below 4 makes scan report a malformed stream") {
  for (std::uint32_t length : {0u, 1u, 3u}) {
    CAPTURE(length);
    std::string stream = typed('Z', "I");
    stream += "Q";
    ByteWriter(stream).i32(static_cast<std::int32_t>(length));
    MessageScanner scanner(kMaxPacket, kCaptured);
    int messages = 0;
    CHECK_FALSE(scanner.scan(as_bytes(stream), [&](char, pooler::util::Bytes) {
      ++messages;
      return true;
    }));
    CHECK(messages == 1);
  }
}

TEST_CASE("a message length over max_packet_size makes scan report a malformed stream") {
  MessageScanner scanner(100, "");
  std::string stream = "D";
  ByteWriter(stream).i32(101);
  CHECK_FALSE(scanner.scan(as_bytes(stream), [](char, pooler::util::Bytes) { return true; }));

  MessageScanner exact(100, "");
  std::string ok = typed('D', std::string(96, 'x'));
  int messages = 0;
  CHECK(exact.scan(as_bytes(ok), [&](char, pooler::util::Bytes) {
    ++messages;
    return true;
  }));
  CHECK(messages == 1);
}

TEST_CASE("a bad length split across chunks is still caught when the header completes") {
  MessageScanner scanner(kMaxPacket, "");
  auto none = [](char, pooler::util::Bytes) { return true; };
  CHECK(scanner.scan(as_bytes("Q\0\0"sv), none));
  CHECK_FALSE(scanner.at_boundary());
  CHECK_FALSE(scanner.scan(as_bytes("\0\2"sv), none));
}

TEST_CASE("captured bodies larger than kMaxCapture are truncated to their prefix") {
  constexpr std::size_t kMax = MessageScanner::kMaxCapture;
  std::string big;
  for (std::size_t i = 0; i < kMax + 1000; ++i) {
    big.push_back(static_cast<char>('a' + i % 26));
  }
  std::string stream = typed('E', big) + typed('Z', "I");
  for (std::size_t chunk : {stream.size(), std::size_t{1}, std::size_t{4093}}) {
    CAPTURE(chunk);
    auto seen = scan_in_chunks(stream, {chunk});
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].type == 'E');
    CHECK(seen[0].body.size() == kMax);
    CHECK(seen[0].body == std::string_view(big).substr(0, kMax));
    CHECK(seen[0].end == big.size() + 5);
    CHECK(seen[1].body == "I");
  }
}

TEST_CASE("a captured body of exactly kMaxCapture is kept whole") {
  std::string body(MessageScanner::kMaxCapture, 'x');
  auto seen = scan_in_chunks(typed('S', body), {1000});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].body == body);
}

TEST_CASE("reset forgets a partial header") {
  MessageScanner scanner(kMaxPacket, kCaptured);
  auto none = [](char, pooler::util::Bytes) { return true; };
  REQUIRE(scanner.scan(as_bytes("Z\0"sv), none));
  CHECK_FALSE(scanner.at_boundary());
  scanner.reset();
  CHECK(scanner.at_boundary());
  std::vector<std::string> bodies;
  REQUIRE(scanner.scan(as_bytes(typed('Z', "T")), [&](char, pooler::util::Bytes body) {
    bodies.emplace_back(pooler::util::as_chars(body));
    return true;
  }));
  CHECK(bodies == std::vector<std::string>{"T"});
}
