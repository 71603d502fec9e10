// ConsolePort: how a client connected to the admin database reaches the console. frontend
// defines it and admin implements it, so frontend never depends on admin.
#pragma once

#include <string>
#include <string_view>

namespace pooler::frontend {

enum class ConsoleRole { kAdmin, kStats };

class ConsolePort {
 public:
  virtual ~ConsolePort() = default;
  // Runs one console statement; returns the result messages (RowDescription, DataRows,
  // CommandComplete, or an ErrorResponse), without ReadyForQuery.
  virtual std::string execute(std::string_view statement, ConsoleRole role) = 0;
  // The server_version the console reports.
  virtual std::string server_version() const = 0;
};

}  // namespace pooler::frontend
