// libFuzzer entry point for the admin console's command parser (Console::execute) over fake
// Controls. Besides no crash and no UB: the answer is whole, self-consistent messages of one of
// the shapes a client expects; a stats user never reaches a control command and an admin reaches
// at most one; and leading blanks or a trailing ';' change nothing.
// Input: one control byte (role, whether controls fail, which blank to prefix), then the statement.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "console_reply_check.hpp"
#include "fake_controls.hpp"
#include "fuzz_check.hpp"
#include "pooler/admin/console.hpp"

namespace {

using pooler::frontend::ConsoleReply;
using pooler::frontend::ConsoleRole;
using pooler::fuzz::require;
namespace fuzz = pooler::fuzz;

struct Run {
  ConsoleReply reply;
  std::vector<std::string> calls;
};

Run execute(std::string_view statement, ConsoleRole role, bool fail) {
  fuzz::FakeControls controls = fuzz::fuzz_controls();
  controls.fail = fail;
  controls.wait_polls = 1;
  pooler::admin::Console console(controls, "0.0.0");
  Run run{console.execute(statement, role), {}};
  run.calls = std::move(controls.calls);
  return run;
}

void check_shape(const Run& run, ConsoleRole role, bool fail) {
  const auto messages = fuzz::framed_messages(run.reply.messages);
  require(!messages.empty());
  fuzz::check_result_messages(messages);
  const char first = messages.front().type;
  const char last = messages.back().type;
  if (first == 'E' || first == 'I') {
    require(messages.size() == 1);
  } else if (first == 'T' || first == 'N') {
    require(first == 'T' || messages.size() == 2);
    // A SHOW: description (or the HELP notice), rows, "SHOW".
    require(last == 'C' && fuzz::command_tag(messages.back().body) == "SHOW");
    for (std::size_t i = 1; i + 1 < messages.size(); ++i) {
      require(messages[i].type == 'D');
    }
  } else {
    require(first == 'C' && messages.size() == 1);
  }
  require(role == ConsoleRole::kAdmin || run.calls.empty());
  require(run.calls.size() <= 1);
  if (!run.calls.empty()) {
    // The control command ran: its answer is its tag, or the controls' refusal.
    require(first == (fail ? 'E' : 'C'));
  }
  if (run.reply.ready) {
    require(run.calls.size() == 1 && !fail);
    require(run.calls[0].starts_with("pause ") || run.calls[0].starts_with("wait_close "));
  }
}

void require_same(const Run& a, const Run& b) {
  require(a.reply.messages == b.reply.messages);
  require(a.calls == b.calls);
  require(static_cast<bool>(a.reply.ready) == static_cast<bool>(b.reply.ready));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t control = data[0];
  // Statements arrive as NUL-terminated strings (Query, Parse), so they hold no NUL.
  std::string statement(reinterpret_cast<const char*>(data + 1), size - 1);
  statement = statement.substr(0, statement.find('\0'));
  const ConsoleRole role = (control & 1) != 0 ? ConsoleRole::kAdmin : ConsoleRole::kStats;
  const bool fail = (control & 2) != 0;
  constexpr std::string_view kBlanks = " \t\n\v\f\r";
  const char blank = kBlanks[(control >> 2) % kBlanks.size()];

  const Run run = execute(statement, role, fail);
  check_shape(run, role, fail);
  require_same(run, execute(std::string(1, blank) + statement, role, fail));
  require_same(run, execute(statement + ";", role, fail));
  return 0;
}
