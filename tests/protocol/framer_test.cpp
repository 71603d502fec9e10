// Message framing byte by byte: complete frames, every incomplete prefix, and the lengths that
// must be refused before the pooler buffers a single byte more.
#include "pooler/protocol/framer.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "pooler/util/bytes.hpp"

using pooler::protocol::Frame;
using pooler::protocol::frame_startup;
using pooler::protocol::frame_typed;
using pooler::protocol::kMaxStartupPacket;
using pooler::protocol::kTypedHeaderSize;
using pooler::util::as_bytes;
using pooler::util::as_chars;
using pooler::util::ByteWriter;

namespace {

constexpr std::size_t kMaxPacket = 4096;

// A typed message whose length field is `length` (normally body + 4).
std::string typed(char type, std::string_view body, std::uint32_t length) {
  std::string out(1, type);
  ByteWriter(out).i32(static_cast<std::int32_t>(length));
  out.append(body);
  return out;
}

std::string typed(char type, std::string_view body) {
  return typed(type, body, static_cast<std::uint32_t>(body.size() + 4));
}

// An untyped startup-phase packet whose length field is `length`.
std::string untyped(std::uint32_t length, std::string_view rest) {
  std::string out;
  ByteWriter(out).i32(static_cast<std::int32_t>(length));
  out.append(rest);
  return out;
}

}  // namespace

TEST_CASE("a complete typed message frames with its type, body and size") {
  std::string wire = typed('Q', std::string("SELECT 1\0", 9));
  Frame f = frame_typed(as_bytes(wire), kMaxPacket);
  REQUIRE(f.complete());
  CHECK(f.type == 'Q');
  CHECK(as_chars(f.body) == std::string_view("SELECT 1\0", 9));
  CHECK(f.size == wire.size());
  CHECK(f.error.empty());
}

TEST_CASE("a typed message with an empty body frames as five bytes") {
  std::string wire = typed('X', "");
  Frame f = frame_typed(as_bytes(wire), kMaxPacket);
  REQUIRE(f.complete());
  CHECK(f.type == 'X');
  CHECK(f.body.empty());
  CHECK(f.size == kTypedHeaderSize);
}

TEST_CASE("a typed message followed by more bytes frames only the first message") {
  std::string first = typed('Z', "I");
  std::string wire = first + typed('C', std::string("SELECT 1\0", 9));
  Frame f = frame_typed(as_bytes(wire), kMaxPacket);
  REQUIRE(f.complete());
  CHECK(f.type == 'Z');
  CHECK(as_chars(f.body) == "I");
  CHECK(f.size == first.size());
}

TEST_CASE("every proper prefix of a typed message needs more data") {
  std::string wire = typed('D', "some row bytes");
  for (std::size_t n = 0; n < wire.size(); ++n) {
    CAPTURE(n);
    Frame f = frame_typed(as_bytes(std::string_view(wire).substr(0, n)), kMaxPacket);
    CHECK(f.kind == Frame::Kind::kNeedMoreData);
    CHECK_FALSE(f.complete());
    CHECK_FALSE(f.malformed());
  }
  CHECK(frame_typed(as_bytes(wire), kMaxPacket).complete());
}

TEST_CASE("a typed message length below 4 is malformed") {
  for (std::uint32_t length : {0u, 1u, 2u, 3u}) {
    CAPTURE(length);
    std::string wire = typed('Q', "", length);
    Frame f = frame_typed(as_bytes(wire), kMaxPacket);
    CHECK(f.malformed());
    CHECK_FALSE(f.error.empty());
  }
}

TEST_CASE("a negative typed message length is malformed, not a huge wait for data") {
  std::string wire = typed('Q', "", 0x80000000u);
  CHECK(frame_typed(as_bytes(wire), kMaxPacket).malformed());
  wire = typed('Q', "", 0xffffffffu);
  CHECK(frame_typed(as_bytes(wire), kMaxPacket).malformed());
}

TEST_CASE("a typed message length over max_packet_size is malformed as soon as the header is in") {
  std::string header = typed('Q', "", static_cast<std::uint32_t>(kMaxPacket + 1));
  Frame f = frame_typed(as_bytes(header), kMaxPacket);
  CHECK(f.malformed());
  CHECK_FALSE(f.error.empty());
}

TEST_CASE("a typed message length of exactly max_packet_size is accepted") {
  std::string body(kMaxPacket - 4, 'x');
  std::string wire = typed('d', body);
  Frame f = frame_typed(as_bytes(wire), kMaxPacket);
  REQUIRE(f.complete());
  CHECK(f.body.size() == body.size());
  CHECK(frame_typed(as_bytes(std::string_view(wire).substr(0, 5)), kMaxPacket).kind ==
        Frame::Kind::kNeedMoreData);
}

TEST_CASE("a bad typed length is reported before the header is followed by its body") {
  // Only the five header bytes are present: the verdict must not wait for a body that will
  // never be accepted.
  std::string wire = typed('Q', "", 2);
  CHECK(frame_typed(as_bytes(wire), kMaxPacket).malformed());
}

TEST_CASE("a complete startup packet frames with its body after the length") {
  std::string rest;
  ByteWriter(rest).i32(196608);
  rest.append(std::string("user\0alice\0\0", 12));
  std::string wire = untyped(static_cast<std::uint32_t>(rest.size() + 4), rest);
  Frame f = frame_startup(as_bytes(wire));
  REQUIRE(f.complete());
  CHECK(f.size == wire.size());
  CHECK(as_chars(f.body) == rest);
}

TEST_CASE("the smallest startup packet (8 bytes) frames") {
  std::string rest;
  ByteWriter(rest).i32(80877103);
  std::string wire = untyped(8, rest);
  Frame f = frame_startup(as_bytes(wire));
  REQUIRE(f.complete());
  CHECK(f.size == 8);
  CHECK(f.body.size() == 4);
}

TEST_CASE("a startup packet followed by more bytes frames only the packet") {
  std::string rest;
  ByteWriter(rest).i32(80877103);
  std::string wire = untyped(8, rest) + "S";
  Frame f = frame_startup(as_bytes(wire));
  REQUIRE(f.complete());
  CHECK(f.size == 8);
}

TEST_CASE("every proper prefix of a startup packet needs more data") {
  std::string rest;
  ByteWriter(rest).i32(196608);
  rest.append(std::string("user\0bob\0database\0db\0\0", 23));
  std::string wire = untyped(static_cast<std::uint32_t>(rest.size() + 4), rest);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    CAPTURE(n);
    Frame f = frame_startup(as_bytes(std::string_view(wire).substr(0, n)));
    CHECK(f.kind == Frame::Kind::kNeedMoreData);
  }
  CHECK(frame_startup(as_bytes(wire)).complete());
}

TEST_CASE("a startup packet length below 8 is malformed") {
  for (std::uint32_t length : {0u, 1u, 4u, 7u}) {
    CAPTURE(length);
    std::string wire = untyped(length, std::string(8, '\0'));
    Frame f = frame_startup(as_bytes(wire));
    CHECK(f.malformed());
    CHECK_FALSE(f.error.empty());
  }
}

TEST_CASE("a startup packet length over 10000 is malformed as soon as the length is in") {
  for (std::uint32_t length : {10001u, 65536u, 0x7fffffffu, 0xffffffffu}) {
    CAPTURE(length);
    std::string wire = untyped(length, "");
    CHECK(frame_startup(as_bytes(wire)).malformed());
  }
}

TEST_CASE("a startup packet of exactly 10000 bytes is accepted") {
  std::string rest(kMaxStartupPacket - 4, 'a');
  std::string wire = untyped(static_cast<std::uint32_t>(kMaxStartupPacket), rest);
  CHECK(frame_startup(as_bytes(std::string_view(wire).substr(0, 4))).kind ==
        Frame::Kind::kNeedMoreData);
  Frame f = frame_startup(as_bytes(wire));
  REQUIRE(f.complete());
  CHECK(f.size == kMaxStartupPacket);
}
