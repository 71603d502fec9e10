// Console: the admin console's command table. SHOW commands format a fresh Snapshot through the
// pure views; control commands check access and call Controls.
#pragma once

#include <string>
#include <string_view>

#include "pooler/admin/controls.hpp"
#include "pooler/frontend/console_port.hpp"

namespace pooler::admin {

class Console final : public frontend::ConsolePort {
 public:
  Console(Controls& controls, std::string version);

  frontend::ConsoleReply execute(std::string_view statement, frontend::ConsoleRole role) override;
  std::string server_version() const override;

 private:
  Controls& controls_;
  std::string version_;
};

}  // namespace pooler::admin
