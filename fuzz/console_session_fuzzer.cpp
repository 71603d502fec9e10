// libFuzzer entry point for an admin-console client's protocol handling (ConsoleSession), fed the
// raw bytes a client sends after login and framed as ClientConnection frames them. Besides no
// crash and no UB: every answer is whole, self-consistent messages; each Query and each Sync gets
// exactly one ReadyForQuery (idle), at the end, and nothing else does; after an extended-protocol
// error everything up to Sync is ignored; Execute's rows match the RowDescription that Describe
// gave; a simple Query answers what the console itself answers; a command that waits holds the
// output back until it completes; and a stats user never reaches a control command.
// Input: one control byte (role, whether controls fail, how long commands wait), then the bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "console_reply_check.hpp"
#include "fake_controls.hpp"
#include "fuzz_check.hpp"
#include "pooler/admin/console.hpp"
#include "pooler/frontend/console_session.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"

namespace {

using pooler::frontend::ConsoleRole;
using pooler::fuzz::require;
namespace fuzz = pooler::fuzz;
namespace protocol = pooler::protocol;
namespace util = pooler::util;

constexpr int kMaxPolls = 8;

// What a simple Query should answer: the console's own reply to its text, then ReadyForQuery.
std::string expected_query_answer(util::Bytes body, ConsoleRole role, bool fail) {
  util::ByteReader r(body);
  auto sql = r.cstring();
  fuzz::FakeControls controls = fuzz::fuzz_controls();
  controls.fail = fail;
  pooler::admin::Console console(controls, "0.0.0");
  std::string out = console.execute(sql ? *sql : std::string_view(), role).messages;
  protocol::append_ready_for_query(out, 'I');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t control = data[0];
  const ConsoleRole role = (control & 1) != 0 ? ConsoleRole::kAdmin : ConsoleRole::kStats;
  fuzz::FakeControls controls = fuzz::fuzz_controls();
  controls.fail = (control & 2) != 0;
  controls.wait_polls = (control >> 2) % kMaxPolls;
  pooler::admin::Console console(controls, "0.0.0");
  pooler::frontend::ConsoleSession session(console, role);

  util::Bytes input(data + 1, size - 1);
  bool skipping = false;         // an extended-protocol error was sent since the last Sync
  std::optional<int> described;  // columns Describe announced for the next Execute
  while (!input.empty()) {
    // ClientConnection's framing of console input; a malformed stream ends the connection there.
    protocol::Frame frame = protocol::frame_typed(input, protocol::kMaxStartupPacket * 100);
    if (!frame.complete()) {
      break;
    }
    input = input.subspan(frame.size);
    const char type = frame.type;
    bool terminate = false;
    std::string out = session.handle(type, frame.body, terminate);
    if (session.blocked()) {
      require(out.empty());
      for (int i = 0; i < kMaxPolls && session.blocked(); ++i) {
        out = session.poll();
        require(session.blocked() == out.empty());
      }
      require(!session.blocked());
    }
    if (type == 'X') {
      require(terminate && out.empty());
      break;
    }
    require(!terminate);

    const auto messages = fuzz::framed_messages(out);
    fuzz::check_result_messages(messages, type == 'E' ? described : std::nullopt);
    int ready = 0;
    bool error = false;
    for (const fuzz::WireMessage& m : messages) {
      if (m.type == 'Z') {
        require(m.body == "I");
        ++ready;
      }
      error = error || m.type == 'E';
    }
    if (skipping && type != 'S') {
      require(messages.empty());
      continue;
    }
    if (type == 'Q' || type == 'S') {
      require(ready == 1 && messages.back().type == 'Z');
    } else {
      require(ready == 0);
    }
    if (type == 'Q' && controls.wait_polls == 0) {
      require(out == expected_query_answer(frame.body, role, controls.fail));
    }
    if (type == 'S') {
      skipping = false;
    } else if (type != 'Q' && error) {
      skipping = true;
    }
    if (type == 'D') {
      described.reset();
      for (const fuzz::WireMessage& m : messages) {
        if (m.type == 'T') {
          described = fuzz::row_description_columns(m.body);
        }
      }
    } else if (type == 'P' || type == 'B' || type == 'E') {
      described.reset();
    }
  }
  require(role == ConsoleRole::kAdmin || controls.calls.empty());
  return 0;
}
