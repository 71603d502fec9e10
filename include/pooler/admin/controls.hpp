// Controls: what the console's commands act on. app implements it over the live registries, so
// the console's parsing, access rules and answers are tested without a running pooler.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "pooler/admin/snapshot.hpp"

namespace pooler::admin {

// PgBouncer's three, and pooler's drain: like kWaitForClients, but each client is told to go at
// its next transaction boundary instead of being waited for (session clients excepted).
enum class ShutdownMode { kImmediate, kWaitForServers, kWaitForClients, kDrain };

// How a control command went: an error for the client, or done (possibly once `ready` says so).
struct Outcome {
  const char* sqlstate = nullptr;  // set on error
  std::string error;
  std::function<bool()> ready;  // the command completes when this returns true (PAUSE)
  std::string detail;           // the error's DETAIL, if it has one

  static Outcome done() { return {}; }
  static Outcome wait_until(std::function<bool()> ready) {
    return {nullptr, {}, std::move(ready), {}};
  }
  static Outcome failed(const char* sqlstate, std::string error, std::string detail = {}) {
    return {sqlstate, std::move(error), nullptr, std::move(detail)};
  }
};

using Database = std::optional<std::string>;  // nullopt: every database

class Controls {
 public:
  virtual ~Controls() = default;
  virtual Snapshot snapshot() = 0;
  virtual Outcome pause(const Database& database) = 0;
  virtual Outcome resume(const Database& database) = 0;
  virtual Outcome suspend() = 0;
  virtual Outcome set_enabled(const std::string& database, bool enabled) = 0;
  virtual Outcome kill(const Database& database) = 0;
  virtual Outcome kill_client(std::uint64_t id) = 0;
  virtual Outcome reconnect(const Database& database) = 0;
  virtual Outcome wait_close(const Database& database) = 0;
  virtual Outcome reload() = 0;
  virtual Outcome shutdown(ShutdownMode mode) = 0;
  virtual Outcome set(const std::string& key, const std::string& value) = 0;
};

}  // namespace pooler::admin
