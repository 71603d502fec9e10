// ConsolePort: how a client connected to the admin database reaches the console. frontend
// defines it and admin implements it, so frontend never depends on admin.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace pooler::frontend {

enum class ConsoleRole { kAdmin, kStats };

// A statement's answer: the result messages (RowDescription, DataRows, CommandComplete, or an
// ErrorResponse), without ReadyForQuery. Commands that wait (PAUSE, WAIT_CLOSE) set `ready`: the
// answer is held back until it returns true, polled on each janitor tick.
struct ConsoleReply {
  std::string messages;
  std::function<bool()> ready;
};

class ConsolePort {
 public:
  virtual ~ConsolePort() = default;
  virtual ConsoleReply execute(std::string_view statement, ConsoleRole role) = 0;
  // The server_version the console reports.
  virtual std::string server_version() const = 0;
};

}  // namespace pooler::frontend
