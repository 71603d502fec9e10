// Startup packet decoding: what a client's first packet asks for, and the refusals PostgreSQL
// itself would send for packets it cannot accept.
#include "pooler/protocol/startup.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "pooler/protocol/sqlstate.hpp"
#include "pooler/util/bytes.hpp"

using pooler::protocol::BadStartup;
using pooler::protocol::CancelRequest;
using pooler::protocol::GssEncRequest;
using pooler::protocol::parse_startup;
using pooler::protocol::SslRequest;
using pooler::protocol::StartupMessage;
using pooler::protocol::StartupPacket;
using pooler::util::as_bytes;
using pooler::util::ByteWriter;
using namespace std::string_view_literals;

namespace {

constexpr std::int32_t kV3 = 196608;

// A startup packet body: the int32 code followed by raw bytes.
std::string body(std::int32_t code, std::string_view rest = {}) {
  std::string out;
  ByteWriter(out).i32(code);
  out.append(rest);
  return out;
}

StartupPacket parse(const std::string& b) {
  return parse_startup(as_bytes(b));
}

}  // namespace

TEST_CASE("a StartupMessage yields its parameters in arrival order") {
  auto packet = parse(body(kV3,
                           "user\0alice\0database\0shop\0application_name\0psql\0"
                           "options\0-c geqo=off\0\0"sv));
  REQUIRE(std::holds_alternative<StartupMessage>(packet));
  const auto& message = std::get<StartupMessage>(packet);
  REQUIRE(message.parameters.size() == 4);
  CHECK(message.parameters[0] == std::pair<std::string, std::string>("user", "alice"));
  CHECK(message.parameters[1] == std::pair<std::string, std::string>("database", "shop"));
  CHECK(message.parameters[2] == std::pair<std::string, std::string>("application_name", "psql"));
  CHECK(message.parameters[3] == std::pair<std::string, std::string>("options", "-c geqo=off"));
}

TEST_CASE("StartupMessage find returns a parameter's value or nullptr when absent") {
  auto packet = parse(body(kV3, "user\0alice\0database\0\0\0"sv));
  REQUIRE(std::holds_alternative<StartupMessage>(packet));
  const auto& message = std::get<StartupMessage>(packet);
  REQUIRE(message.find("user") != nullptr);
  CHECK(*message.find("user") == "alice");
  REQUIRE(message.find("database") != nullptr);
  CHECK(message.find("database")->empty());
  CHECK(message.find("application_name") == nullptr);
}

TEST_CASE("a StartupMessage with no parameters is just the terminator") {
  auto packet = parse(body(kV3, "\0"sv));
  REQUIRE(std::holds_alternative<StartupMessage>(packet));
  CHECK(std::get<StartupMessage>(packet).parameters.empty());
}

TEST_CASE("an SSLRequest is recognised") {
  CHECK(std::holds_alternative<SslRequest>(parse(body(80877103))));
}

TEST_CASE("a GSSENCRequest is recognised") {
  CHECK(std::holds_alternative<GssEncRequest>(parse(body(80877104))));
}

TEST_CASE("an SSLRequest with trailing bytes is not taken for an SSLRequest") {
  CHECK(std::holds_alternative<BadStartup>(parse(body(80877103, "x"))));
  CHECK(std::holds_alternative<BadStartup>(parse(body(80877104, "x"))));
}

TEST_CASE("a CancelRequest carries the pid and secret key, negative keys included") {
  std::string rest;
  ByteWriter w(rest);
  w.i32(4242);
  w.i32(-123456789);
  auto packet = parse(body(80877102, rest));
  REQUIRE(std::holds_alternative<CancelRequest>(packet));
  CHECK(std::get<CancelRequest>(packet).pid == 4242);
  CHECK(std::get<CancelRequest>(packet).key == -123456789);
}

TEST_CASE("a CancelRequest of the wrong size is a protocol violation") {
  for (std::string_view rest : {""sv, "\0\0\0\1"sv, "\0\0\0\1\0\0\0\2\0"sv}) {
    CAPTURE(rest.size());
    auto packet = parse(body(80877102, rest));
    REQUIRE(std::holds_alternative<BadStartup>(packet));
    CHECK(std::get<BadStartup>(packet).sqlstate == pooler::protocol::sqlstate::kProtocolViolation);
  }
}

TEST_CASE("protocol 2.0 is refused with feature_not_supported naming the version") {
  auto packet = parse(body(2 << 16, "user\0alice\0\0"sv));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  const auto& bad = std::get<BadStartup>(packet);
  CHECK(bad.sqlstate == "0A000");
  CHECK(bad.message.find("2.0") != std::string::npos);
}

TEST_CASE("protocol 4.0 is refused with feature_not_supported naming the version") {
  auto packet = parse(body(4 << 16, "user\0alice\0\0"sv));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  const auto& bad = std::get<BadStartup>(packet);
  CHECK(bad.sqlstate == "0A000");
  CHECK(bad.message.find("4.0") != std::string::npos);
}

TEST_CASE("a protocol 3.2 request is negotiated down to 3.0 rather than refused") {
  auto packet = parse(body((3 << 16) | 2, "user\0alice\0_pq_.x\0y\0\0"sv));
  REQUIRE(std::holds_alternative<StartupMessage>(packet));
  const auto& message = std::get<StartupMessage>(packet);
  CHECK(message.parameters.size() == 1);
  CHECK(message.requested_minor == 2);
  REQUIRE(message.protocol_options.size() == 1);
  CHECK(message.protocol_options[0] == "_pq_.x");
}

TEST_CASE("an unknown protocol with the top bit set names its version without a sign") {
  auto packet = parse(body(static_cast<std::int32_t>(0xfffe0001u)));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  CHECK(std::get<BadStartup>(packet).sqlstate == "0A000");
  CHECK(std::get<BadStartup>(packet).message.find("65534.1") != std::string::npos);
}

TEST_CASE("a StartupMessage missing its final terminator is a protocol violation") {
  auto packet = parse(body(kV3, "user\0alice\0"sv));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  CHECK(std::get<BadStartup>(packet).sqlstate == "08P01");
  CHECK_FALSE(std::get<BadStartup>(packet).message.empty());
}

TEST_CASE("a StartupMessage name without a value is a protocol violation") {
  auto packet = parse(body(kV3, "user\0"sv));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  CHECK(std::get<BadStartup>(packet).sqlstate == "08P01");
}

TEST_CASE("a StartupMessage value without its NUL is a protocol violation") {
  auto packet = parse(body(kV3, "user\0alice"sv));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  CHECK(std::get<BadStartup>(packet).sqlstate == "08P01");
}

TEST_CASE("bytes after a StartupMessage's terminator are a protocol violation") {
  auto packet = parse(body(kV3, "user\0alice\0\0garbage"sv));
  REQUIRE(std::holds_alternative<BadStartup>(packet));
  CHECK(std::get<BadStartup>(packet).sqlstate == "08P01");
}

TEST_CASE("a startup body too short for its code is a protocol violation") {
  for (std::string_view b : {""sv, "\0"sv, "\0\3\0"sv}) {
    CAPTURE(b.size());
    auto packet = parse_startup(as_bytes(b));
    REQUIRE(std::holds_alternative<BadStartup>(packet));
    CHECK(std::get<BadStartup>(packet).sqlstate == "08P01");
  }
}
