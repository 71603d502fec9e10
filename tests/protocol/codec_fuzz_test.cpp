// Deterministic fuzzing of the codec: seeded random garbage and mutated valid messages through
// every decoder. Nothing may crash or read out of bounds (the sanitizer build checks that), and
// every answer must be one the caller can act on.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/message_scanner.hpp"
#include "pooler/protocol/startup.hpp"
#include "pooler/util/bytes.hpp"

using pooler::protocol::Frame;
using pooler::protocol::MessageScanner;
using pooler::util::as_bytes;
using pooler::util::Bytes;
namespace protocol = pooler::protocol;

namespace {

constexpr std::size_t kMaxPacket = 512;

class Garbage {
 public:
  explicit Garbage(std::uint32_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  std::string bytes(std::size_t max_size) {
    std::string out(below(max_size + 1), '\0');
    for (char& c : out) {
      c = static_cast<char>(byte());
    }
    return out;
  }

  // Random bytes biased towards the values that matter to a decoder: NULs, tiny lengths.
  std::uint8_t byte() {
    switch (below(4)) {
      case 0:
        return 0;
      case 1:
        return static_cast<std::uint8_t>(below(16));
      default:
        return static_cast<std::uint8_t>(below(256));
    }
  }

  // A copy of `valid` with a few bytes flipped, cut short or extended.
  std::string mutate(std::string valid) {
    int edits = 1 + static_cast<int>(below(3));
    for (int i = 0; i < edits; ++i) {
      switch (below(4)) {
        case 0:
          if (!valid.empty()) {
            valid[below(valid.size())] ^= static_cast<char>(1 + below(255));
          }
          break;
        case 1:
          if (!valid.empty()) {
            valid[below(valid.size())] = static_cast<char>(byte());
          }
          break;
        case 2:
          valid.resize(below(valid.size() + 1));
          break;
        default:
          valid += bytes(16);
          break;
      }
    }
    return valid;
  }

 private:
  std::mt19937 rng_;
};

// Valid messages of every kind the decoders see, to mutate.
std::vector<std::string> valid_typed_messages() {
  std::vector<std::string> out(8);
  protocol::append_error(out[0], protocol::ErrorSeverity::kFatal, "28P01", "password failed");
  protocol::append_notice(out[1], "notice");
  protocol::append_ready_for_query(out[2], 'I');
  protocol::append_parameter_status(out[3], "DateStyle", "ISO, MDY");
  protocol::append_backend_key_data(out[4], 12, 34);
  protocol::append_auth_sasl(out[5], "SCRAM-SHA-256");
  protocol::append_query(out[6], "SELECT 1");
  protocol::append_terminate(out[7]);
  return out;
}

std::vector<std::string> valid_startup_packets() {
  std::vector<std::string> out(3);
  protocol::append_startup(out[0], {{"user", "alice"}, {"database", "shop"}});
  protocol::append_startup(out[1], {});
  protocol::append_cancel_request(out[2], 1, 2);
  std::string ssl;
  pooler::util::ByteWriter w(ssl);
  w.i32(8);
  w.i32(protocol::kSslRequestCode);
  out.push_back(ssl);
  return out;
}

// How far the inputs got, so a test can show it reached the decoders' deeper paths.
struct Tally {
  int typed_frames = 0;
  int typed_malformed = 0;
  int startup_frames = 0;
  int startup_messages = 0;
  int startup_refusals = 0;
  int error_fields = 0;
  int scanned_messages = 0;
};

// The outcome a caller acts on must be self-consistent; returns a description of what is wrong.
std::string check_typed(Bytes data, Tally& tally) {
  Frame f = protocol::frame_typed(data, kMaxPacket);
  switch (f.kind) {
    case Frame::Kind::kFrame:
      ++tally.typed_frames;
      if (f.size < 5 || f.size > data.size() || f.size != f.body.size() + 5 ||
          f.size - 1 > kMaxPacket || f.body.data() != data.data() + 5 ||
          f.type != static_cast<char>(data[0])) {
        return "inconsistent typed frame";
      }
      return {};
    case Frame::Kind::kMalformed:
      ++tally.typed_malformed;
      return f.error.empty() ? "malformed typed frame without a reason" : "";
    case Frame::Kind::kNeedMoreData:
      return f.size == 0 ? "" : "need-more-data with a size";
  }
  return "unknown frame kind";
}

std::string check_startup_frame(Bytes data, Tally& tally) {
  Frame f = protocol::frame_startup(data);
  switch (f.kind) {
    case Frame::Kind::kFrame:
      ++tally.startup_frames;
      if (f.size < 8 || f.size > protocol::kMaxStartupPacket || f.size > data.size() ||
          f.size != f.body.size() + 4) {
        return "inconsistent startup frame";
      }
      return {};
    case Frame::Kind::kMalformed:
      return f.error.empty() ? "malformed startup frame without a reason" : "";
    case Frame::Kind::kNeedMoreData:
      return {};
  }
  return "unknown frame kind";
}

std::string check_parse_startup(Bytes body, Tally& tally) {
  auto packet = protocol::parse_startup(body);
  if (packet.valueless_by_exception()) {
    return "valueless startup packet";
  }
  if (const auto* bad = std::get_if<protocol::BadStartup>(&packet)) {
    ++tally.startup_refusals;
    if (bad->sqlstate.size() != 5 || bad->message.empty()) {
      return "BadStartup without a reason";
    }
  }
  if (const auto* message = std::get_if<protocol::StartupMessage>(&packet)) {
    ++tally.startup_messages;
    std::size_t total = 4 + 1;
    for (const auto& [name, value] : message->parameters) {
      if (name.empty()) {
        return "empty parameter name";
      }
      total += name.size() + value.size() + 2;
    }
    if (total != body.size()) {
      return "startup parameters do not account for the body";
    }
  }
  return {};
}

std::string check_error_fields(Bytes body, Tally& tally) {
  auto fields = protocol::parse_error_fields(body);
  if (!fields.severity.empty() || !fields.sqlstate.empty() || !fields.message.empty()) {
    ++tally.error_fields;
  }
  if (fields.severity.size() > body.size() || fields.sqlstate.size() > body.size() ||
      fields.message.size() > body.size()) {
    return "error field longer than the body";
  }
  return {};
}

// The scanner, fed in random chunks, must agree with frame_typed applied to the whole stream.
std::string check_scanner(std::string_view stream, Garbage& g, Tally& tally) {
  std::vector<std::pair<char, std::size_t>> expected;
  bool expect_malformed = false;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    Frame f = protocol::frame_typed(as_bytes(stream.substr(pos)), kMaxPacket);
    if (f.malformed()) {
      expect_malformed = true;
      break;
    }
    if (!f.complete()) {
      break;
    }
    pos += f.size;
    expected.emplace_back(f.type, pos);
  }

  MessageScanner scanner(kMaxPacket, "EZS");
  std::vector<std::pair<char, std::size_t>> seen;
  bool ok = true;
  bool oversized = false;
  pos = 0;
  while (ok && pos < stream.size()) {
    std::size_t n = std::min(1 + g.below(32), stream.size() - pos);
    std::string chunk(stream.substr(pos, n));
    ok = scanner.scan(as_bytes(chunk), [&](char type, Bytes body) {
      if (body.size() > MessageScanner::kMaxCapture) {
        oversized = true;
      }
      seen.emplace_back(type, pos + scanner.message_end());
      ++tally.scanned_messages;
      return true;
    });
    pos += n;
  }
  if (oversized) {
    return "scanner captured more than kMaxCapture";
  }
  if (ok == expect_malformed) {
    return "scanner and framer disagree on malformed";
  }
  if (seen != expected) {
    return "scanner and framer disagree on messages";
  }
  return {};
}

// Runs every decoder over one input; returns the first inconsistency found.
std::string check_all(std::string_view input, Garbage& g, Tally& tally) {
  Bytes data = as_bytes(input);
  for (auto problem : {check_typed(data, tally), check_startup_frame(data, tally),
                       check_parse_startup(data, tally), check_error_fields(data, tally),
                       check_scanner(input, g, tally)}) {
    if (!problem.empty()) {
      return problem;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("random garbage through every decoder never crashes and always gets a defined answer") {
  Tally tally;
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    Garbage g(seed);
    for (int i = 0; i < 1500; ++i) {
      std::string input = g.bytes(i % 10 == 0 ? 600 : 40);
      std::string problem = check_all(input, g, tally);
      if (!problem.empty()) {
        CAPTURE(seed);
        CAPTURE(i);
        FAIL_CHECK(problem);
      }
    }
  }
  CHECK(tally.typed_malformed > 0);
  CHECK(tally.startup_refusals > 0);
  CHECK(tally.error_fields > 0);
}

TEST_CASE("garbage behind a plausible typed header is framed, waited for or refused consistently") {
  Tally tally;
  Garbage g(7);
  for (int i = 0; i < 2000; ++i) {
    // A stream of headers with mostly right lengths, so frames complete and the scanner has a
    // message sequence to agree on.
    std::string stream;
    int messages = 1 + static_cast<int>(g.below(6));
    for (int m = 0; m < messages; ++m) {
      std::string body = g.bytes(24);
      stream.push_back(static_cast<char>(g.byte()));
      auto length = static_cast<std::uint32_t>(body.size() + 4);
      if (g.below(10) == 0) {
        length = static_cast<std::uint32_t>(g.below(8));
      }
      if (g.below(20) == 0) {
        length = static_cast<std::uint32_t>(kMaxPacket + g.below(3));
      }
      pooler::util::ByteWriter(stream).i32(static_cast<std::int32_t>(length));
      stream += body;
    }
    if (g.below(3) == 0) {
      stream.resize(g.below(stream.size() + 1));
    }
    std::string problem = check_all(stream, g, tally);
    if (!problem.empty()) {
      CAPTURE(i);
      FAIL_CHECK(problem);
    }
  }
  CHECK(tally.typed_frames > 1000);
  CHECK(tally.typed_malformed > 100);
  CHECK(tally.scanned_messages > 2000);
}

TEST_CASE("mutated valid typed messages never crash any decoder") {
  Tally tally;
  Garbage g(11);
  auto valid = valid_typed_messages();
  for (int i = 0; i < 3000; ++i) {
    std::string input = g.mutate(valid[static_cast<std::size_t>(i) % valid.size()]);
    std::string problem = check_all(input, g, tally);
    // The body alone, as parse_error_fields sees it after framing.
    if (problem.empty() && input.size() > 5) {
      problem = check_error_fields(as_bytes(std::string_view(input).substr(5)), tally);
    }
    if (!problem.empty()) {
      CAPTURE(i);
      FAIL_CHECK(problem);
    }
  }
  CHECK(tally.typed_frames > 500);
  CHECK(tally.error_fields > 100);
}

TEST_CASE("mutated valid startup packets never crash framing or parsing") {
  Tally tally;
  Garbage g(13);
  auto valid = valid_startup_packets();
  for (int i = 0; i < 3000; ++i) {
    std::string input = g.mutate(valid[static_cast<std::size_t>(i) % valid.size()]);
    std::string problem = check_all(input, g, tally);
    if (problem.empty() && input.size() >= 4) {
      problem = check_parse_startup(as_bytes(std::string_view(input).substr(4)), tally);
    }
    if (!problem.empty()) {
      CAPTURE(i);
      FAIL_CHECK(problem);
    }
  }
  CHECK(tally.startup_frames > 500);
  CHECK(tally.startup_messages > 100);
  CHECK(tally.startup_refusals > 100);
}

TEST_CASE("unmutated seed messages decode cleanly, so the mutations start from valid input") {
  for (const auto& m : valid_typed_messages()) {
    CHECK(protocol::frame_typed(as_bytes(m), kMaxPacket).complete());
  }
  for (const auto& p : valid_startup_packets()) {
    auto f = protocol::frame_startup(as_bytes(p));
    REQUIRE(f.complete());
    CHECK_FALSE(std::holds_alternative<protocol::BadStartup>(protocol::parse_startup(f.body)));
  }
}
