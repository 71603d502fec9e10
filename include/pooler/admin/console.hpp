// Console: the admin console's command table. Each command is a {name, access, handler} row;
// SHOW commands format a fresh Snapshot through the pure views.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "pooler/admin/snapshot.hpp"
#include "pooler/frontend/console_port.hpp"

namespace pooler::admin {

// What the console needs from the running process, supplied by app.
struct ConsoleHooks {
  std::function<Snapshot()> snapshot;
  std::function<void()> reload;
  std::function<void()> shutdown;
};

class Console final : public frontend::ConsolePort {
 public:
  Console(ConsoleHooks hooks, std::string version);

  std::string execute(std::string_view statement, frontend::ConsoleRole role) override;
  std::string server_version() const override;

 private:
  ConsoleHooks hooks_;
  std::string version_;
};

}  // namespace pooler::admin
