// libFuzzer entry point for the protocol codec: one input runs through every decoder the pooler
// exposes to untrusted bytes (framing, startup packets, ErrorResponse fields, the stream scanner)
// and traps on any answer a caller could not act on. Built by fuzz/build.sh, not by CMake.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_scanner.hpp"
#include "pooler/protocol/startup.hpp"
#include "pooler/util/bytes.hpp"

namespace {

using pooler::protocol::Frame;
using pooler::protocol::MessageScanner;
using pooler::util::Bytes;
namespace protocol = pooler::protocol;

// A violated invariant is a finding: trap so libFuzzer saves the input.
void require(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

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
  } else if (const auto* message = std::get_if<protocol::StartupMessage>(&packet)) {
    std::size_t total = 4 + 1;
    for (const auto& [name, value] : message->parameters) {
      require(!name.empty());
      total += name.size() + value.size() + 2;
    }
    require(total == body.size());
  }
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
