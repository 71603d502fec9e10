// ConsoleSession: one admin-console client's protocol handling. It speaks the simple query
// protocol and, unlike PgBouncer's console, enough of the extended protocol (Parse, Bind,
// Describe, Execute, Sync) for drivers such as psycopg 3, JDBC and Npgsql. No I/O: bytes in,
// bytes out.
#pragma once

#include <string>

#include "pooler/frontend/console_port.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::frontend {

class ConsoleSession {
 public:
  ConsoleSession(ConsolePort& console, ConsoleRole role) : console_(console), role_(role) {}

  // Handles one client message; returns what to send back. `terminate` is set on Terminate.
  // While a command waits (see blocked), output is held instead and no message may be handled.
  std::string handle(char type, util::Bytes body, bool& terminate);
  // A PAUSE or WAIT_CLOSE is still waiting.
  bool blocked() const { return static_cast<bool>(until_); }
  // Once the waiting command is done: everything held back since. Empty while still blocked.
  std::string poll();

 private:
  // Runs the prepared statement once per Execute cycle; Describe and Execute share the result.
  const std::string& result();
  std::string run(std::string_view statement);
  std::string respond(char type, util::Bytes body, bool& terminate);
  void fail_until_sync(std::string& out, const std::string& message);

  ConsolePort& console_;
  ConsoleRole role_;
  std::string statement_;       // the last Parse's query text
  std::string result_;          // its result messages, once run
  bool have_result_ = false;
  bool skipping_to_sync_ = false;  // an error in the extended protocol: ignore until Sync
  std::function<bool()> until_;    // the waiting command's completion test
  std::string held_;               // output held back while it waits
};

}  // namespace pooler::frontend
