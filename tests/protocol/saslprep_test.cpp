// SASLprep: RFC 4013's examples, PostgreSQL's departures from the RFC, and the SCRAM keys pooler
// derives checked against libpq's own (PQencryptPasswordConn runs PostgreSQL's pg_saslprep).
#include "pooler/protocol/saslprep.hpp"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pooler/protocol/scram.hpp"
#include "../util/lcg.hpp"

namespace pooler::protocol {
namespace {

// The code point as UTF-8.
std::string u8(std::uint32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

TEST_CASE("RFC 4013's examples that succeed") {
  CHECK(saslprep("I" + u8(0x00AD) + "X") == "IX");  // soft hyphen mapped to nothing
  CHECK(saslprep("user") == "user");
  CHECK(saslprep("USER") == "USER");    // no case folding
  CHECK(saslprep(u8(0x00AA)) == "a");   // NFKC
  CHECK(saslprep(u8(0x2168)) == "IX");  // NFKC: ROMAN NUMERAL NINE
}

TEST_CASE("RFC 4013's failing examples fall back to the raw bytes") {
  // U+0627 U+0031: a RandALCat character, but the text does not end with one.
  const std::string bidi = u8(0x0627) + "1";
  CHECK(saslprep(bidi) == std::nullopt);
  CHECK(scram_password_bytes(bidi) == bidi);
  // U+0007 is prohibited by the RFC, but PostgreSQL passes any pure ASCII text through as it is.
  CHECK(saslprep("\x07") == "\x07");
}

TEST_CASE("the password IX-Ⅸ hashes as IX-IX") {
  CHECK(saslprep("IX-" + u8(0x2168)) == "IX-IX");
  CHECK(scram_password_bytes("IX-\u2168") == "IX-IX");
}

TEST_CASE("non-ASCII spaces map to SPACE; zero-width and variation selectors to nothing") {
  CHECK(saslprep("a" + u8(0x00A0) + "b" + u8(0x3000) + "c") == "a b c");
  CHECK(saslprep("a" + u8(0x200C) + "b" + u8(0xFE0F) + "c" + u8(0xFEFF)) == "abc");
  // ZERO WIDTH SPACE is in both tables; the space mapping comes first, as in PostgreSQL.
  CHECK(saslprep("a" + u8(0x200B) + "b") == "a b");
}

TEST_CASE("NFKC composes, decomposes compatibility forms and keeps blocked marks apart") {
  CHECK(saslprep("e" + u8(0x0301)) == u8(0x00E9));         // é composed
  CHECK(saslprep(u8(0xFB01)) == "fi");                     // ligature
  CHECK(saslprep(u8(0xFF21) + u8(0xFF42)) == "Ab");        // fullwidth
  CHECK(saslprep(u8(0x1100) + u8(0x1161)) == u8(0xAC00));  // Hangul jamo to syllable
  CHECK(saslprep(u8(0xAC00) + u8(0x05B2) + u8(0x11AF)) ==  // a mark blocks the T jamo
        u8(0xAC00) + u8(0x05B2) + u8(0x11AF));
}

TEST_CASE("PostgreSQL's failures: each leaves the password's bytes unchanged") {
  const std::vector<std::string> failing = {
      "\xFF\xFE",                     // not UTF-8
      "abc\xC3",                      // truncated sequence
      "\xC0\xAF",                     // overlong '/'
      "\xED\xA0\x80",                 // an encoded surrogate
      u8(0x00AD),                     // maps to nothing: empty
      "a" + u8(0x0085),               // C.2.2 control
      "a" + u8(0xE000),               // C.3 private use
      "a" + u8(0xFDD0),               // C.4 non-character
      "a" + u8(0xFFFD),               // C.6 replacement character
      "a" + u8(0x2FF0),               // C.7 ideographic description
      "a" + u8(0x0341),               // C.8, checked before NFKC would make it U+0301
      "a" + u8(0xE0041),              // C.9 tag
      "a" + u8(0x0221),               // unassigned in Unicode 3.2
      u8(0x0627) + "a" + u8(0x0628),  // RandALCat with LCat
      "a" + u8(0x0627),               // RandALCat not first
  };
  for (const std::string& password : failing) {
    CAPTURE(password);
    CHECK(saslprep(password) == std::nullopt);
    CHECK(scram_password_bytes(password) == password);
  }
  CHECK(saslprep(u8(0x0627) + u8(0x0628)) == u8(0x0627) + u8(0x0628));  // all RandALCat: fine
}

// PostgreSQL's own SCRAM secret for `password`, from libpq, or empty if libpq fails.
std::string libpq_secret(PGconn* conn, const std::string& password) {
  std::unique_ptr<char, decltype(&PQfreemem)> secret(
      PQencryptPasswordConn(conn, password.c_str(), "u", "scram-sha-256"), &PQfreemem);
  return secret ? std::string(secret.get()) : std::string();
}

// The keys pooler derives from `password` with libpq's salt and iterations equal libpq's.
void check_same_keys_as_libpq(PGconn* conn, const std::string& password) {
  CAPTURE(password);
  const std::string secret = libpq_secret(conn, password);
  REQUIRE(!secret.empty());
  std::optional<ScramVerifier> theirs = parse_scram_verifier(secret);
  REQUIRE(theirs.has_value());
  ScramVerifier ours = make_scram_verifier(password, theirs->salt, theirs->iterations);
  CHECK(format_scram_verifier(ours) == secret);
}

using pooler::testing::Lcg;

TEST_CASE("SCRAM keys from non-ASCII passwords equal those libpq (PostgreSQL's saslprep) makes") {
  // libpq only needs a connection object to compute a secret: this one never opens a socket.
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectStart("not_a_libpq_option=1"),
                                                    &PQfinish);
  REQUIRE(conn != nullptr);
  for (const std::string& password :
       {std::string("pencil"), "IX-" + u8(0x2168), "I" + u8(0x00AD) + "X", u8(0x00AA),
        u8(0x0627) + "1", "a" + u8(0x0341), std::string("\xFF\xFE"), u8(0x00AD),
        u8(0xAC00) + u8(0x05B2) + u8(0x11AF), u8(0x0627) + u8(0x0628), "a" + u8(0x200B) + "b"}) {
    check_same_keys_as_libpq(conn.get(), password);
  }
  // The oracle does tell: libpq's secret for IX-Ⅸ is the one for the ASCII text IX-IX.
  std::optional<ScramVerifier> nine = parse_scram_verifier(libpq_secret(conn.get(), "IX-\u2168"));
  REQUIRE(nine.has_value());
  CHECK(format_scram_verifier(make_scram_verifier("IX-IX", nine->salt, nine->iterations)) ==
        format_scram_verifier(*nine));
  // Random mixes of the characters each rule is about.
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {
      {0x21, 0x7E},       {0xA0, 0xFF},       {0x0221, 0x0250},   {0x0300, 0x036F},
      {0x05B0, 0x05F4},   {0x0600, 0x06FF},   {0x1100, 0x11FF},   {0x1806, 0x180E},
      {0x2000, 0x206F},   {0x2160, 0x2188},   {0x2460, 0x24FF},   {0x2FF0, 0x2FFF},
      {0x3000, 0x3010},   {0xAC00, 0xAC20},   {0xE000, 0xE010},   {0xF900, 0xFB4F},
      {0xFDD0, 0xFDFF},   {0xFE00, 0xFE0F},   {0xFE70, 0xFEFF},   {0xFF00, 0xFFEF},
      {0x1D15E, 0x1D17A}, {0x1D400, 0x1D7FF}, {0x2F800, 0x2FA1D}, {0xE0000, 0xE007F},
  };
  Lcg random(2024);
  for (int round = 0; round < 300; ++round) {
    std::string password;
    const std::uint32_t length = 1 + random.next() % 6;
    for (std::uint32_t i = 0; i < length; ++i) {
      const auto& [low, high] = ranges[random.next() % ranges.size()];
      password += u8(low + random.next() % (high - low + 1));
    }
    check_same_keys_as_libpq(conn.get(), password);
  }
}

}  // namespace
}  // namespace pooler::protocol
