// libFuzzer entry point for the protocol codec: one input runs through every decoder the pooler
// exposes to untrusted bytes (framing, startup packets, ErrorResponse fields, the stream scanner)
// and traps on any answer a caller could not act on, or one that disagrees with a plain reference
// decoding. Built by fuzz/fuzz.cmake (cmake -DPOOLER_FUZZ=ON).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_scanner.hpp"
#include "pooler/protocol/startup.hpp"
#include "pooler/util/bytes.hpp"

namespace {

using pooler::fuzz::require;
using pooler::protocol::Frame;
using pooler::protocol::MessageScanner;
using pooler::util::Bytes;
namespace protocol = pooler::protocol;

void fuzz_typed(Bytes data, std::size_t max_packet) {
  Frame f = protocol::frame_typed(data, max_packet);
  if (f.complete()) {
    require(f.size >= 5 && f.size <= data.size() && f.size == f.body.size() + 5);
    require(f.size - 1 <= max_packet);
    require(f.body.data() == data.data() + 5);
    // An ErrorResponse body is what the pooler reads fields from.
    auto fields = protocol::parse_error_fields(f.body);
    require(fields.message.size() <= f.body.size());
  } else if (f.malformed()) {
    require(!f.error.empty());
  }
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The (name, value) pairs of a StartupMessage body after its protocol code, decoded the plainest
// way: NUL-terminated strings up to an empty name that must be the last byte. nullopt if the
// layout is wrong.
std::optional<Pairs> reference_pairs(Bytes body) {
  pooler::util::ByteReader r(body.subspan(4));
  Pairs pairs;
  while (true) {
    auto name = r.cstring();
    if (!name) {
      return std::nullopt;
    }
    if (name->empty()) {
      break;
    }
    auto value = r.cstring();
    if (!value) {
      return std::nullopt;
    }
    pairs.emplace_back(std::string(*name), std::string(*value));
  }
  if (r.remaining() != 0) {
    return std::nullopt;
  }
  return pairs;
}

// A 3.x StartupMessage is accepted exactly when its layout is right; "_pq_." names are protocol
// options (reported for NegotiateProtocolVersion, their values dropped), every other pair is a
// parameter, both in arrival order.
void check_startup_message(Bytes body, const protocol::StartupPacket& packet) {
  if (body.size() < 4) {
    return;
  }
  std::uint32_t code = pooler::util::load_be32(body.data());
  if (code >> 16 != 3) {
    require(!std::holds_alternative<protocol::StartupMessage>(packet));
    return;
  }
  std::optional<Pairs> pairs = reference_pairs(body);
  const auto* message = std::get_if<protocol::StartupMessage>(&packet);
  require((message != nullptr) == pairs.has_value());
  if (message == nullptr) {
    return;
  }
  require(message->requested_minor == static_cast<int>(code & 0xffff));
  Pairs parameters;
  std::vector<std::string> options;
  for (auto& [name, value] : *pairs) {
    if (name.starts_with("_pq_.")) {
      options.push_back(name);
    } else {
      parameters.emplace_back(name, value);
    }
  }
  require(message->parameters == parameters);
  require(message->protocol_options == options);
}

void fuzz_startup(Bytes data) {
  Frame f = protocol::frame_startup(data);
  Bytes body = data.size() >= 4 ? data.subspan(4) : data;
  if (f.complete()) {
    require(f.size >= 8 && f.size <= protocol::kMaxStartupPacket && f.size <= data.size());
    require(f.size == f.body.size() + 4);
    body = f.body;
  } else if (f.malformed()) {
    require(!f.error.empty());
  }
  auto packet = protocol::parse_startup(body);
  if (const auto* bad = std::get_if<protocol::BadStartup>(&packet)) {
    require(bad->sqlstate.size() == 5 && !bad->message.empty());
  }
  check_startup_message(body, packet);
}

// The scanner fed in chunks whose sizes come from the input must agree with frame_typed.
void fuzz_scanner(Bytes data, std::size_t max_packet, std::uint8_t chunk_seed) {
  std::vector<std::pair<char, std::size_t>> expected;
  bool expect_malformed = false;
  for (std::size_t pos = 0; pos < data.size();) {
    Frame f = protocol::frame_typed(data.subspan(pos), max_packet);
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

  MessageScanner scanner(max_packet, "EZS");
  std::vector<std::pair<char, std::size_t>> seen;
  bool ok = true;
  std::size_t pos = 0;
  std::uint32_t state = chunk_seed;
  while (ok && pos < data.size()) {
    state = state * 1103515245u + 12345u;
    std::size_t n = std::min<std::size_t>(1 + (state >> 16) % 64, data.size() - pos);
    std::string chunk(reinterpret_cast<const char*>(data.data() + pos), n);
    ok = scanner.scan(pooler::util::as_bytes(chunk), [&](char type, Bytes body) {
      require(body.size() <= MessageScanner::kMaxCapture);
      require(scanner.message_end() <= n);
      seen.emplace_back(type, pos + scanner.message_end());
      return true;
    });
    pos += n;
  }
  require(ok != expect_malformed);
  require(seen == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks the packet limit and the chunking; the rest is the wire input.
  std::uint8_t control = data[0];
  Bytes input(data + 1, size - 1);
  std::size_t max_packet = (control & 0x0f) == 0 ? 1u << 30 : 16u << (control & 0x0f);
  fuzz_typed(input, max_packet);
  fuzz_startup(input);
  protocol::parse_error_fields(input);
  fuzz_scanner(input, max_packet, control);
  return 0;
}
