// FakeControls: the admin console's Controls for tests and fuzz targets, without sockets. It
// records every control command that reaches it and answers from a snapshot the caller fills.
// Header-only, with no doctest, so the libFuzzer targets can use it too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pooler/admin/controls.hpp"
#include "pooler/config/config.hpp"

namespace pooler::testing {

class FakeControls final : public admin::Controls {
 public:
  using Database = admin::Database;
  using Outcome = admin::Outcome;

  admin::Snapshot snap = empty_snapshot();  // what snapshot() answers
  std::vector<std::string> calls;           // every control command, in order
  bool fail = false;                        // control commands answer 58000
  int wait_polls = 0;  // PAUSE and WAIT_CLOSE complete after this many polls; 0: at once
  std::function<bool()> pause_done;  // if set, PAUSE completes once it says so instead
  std::uint64_t unknown_client = 0;  // KILL_CLIENT of this id answers 42704

  static admin::Snapshot empty_snapshot() {
    admin::Snapshot snap;
    snap.version = "pooler test";
    snap.config = std::make_shared<config::Config>();
    return snap;
  }

  admin::Snapshot snapshot() override { return snap; }
  Outcome pause(const Database& db) override {
    Outcome outcome = record("pause " + db.value_or("*"));
    if (outcome.sqlstate != nullptr || !pause_done) return waiting(std::move(outcome));
    return Outcome::wait_until(pause_done);
  }
  Outcome resume(const Database& db) override { return record("resume " + db.value_or("*")); }
  Outcome suspend() override { return record("suspend"); }
  Outcome set_enabled(const std::string& db, bool on) override {
    return record((on ? "enable " : "disable ") + db);
  }
  Outcome kill(const Database& db) override { return record("kill " + db.value_or("*")); }
  Outcome kill_client(std::uint64_t id) override {
    if (unknown_client != 0 && id == unknown_client) {
      return Outcome::failed("42704", "client not found");
    }
    return record("kill_client " + std::to_string(id));
  }
  Outcome reconnect(const Database& db) override { return record("reconnect " + db.value_or("*")); }
  Outcome wait_close(const Database& db) override {
    return waiting(record("wait_close " + db.value_or("*")));
  }
  Outcome reload() override { return record("reload"); }
  Outcome shutdown(admin::ShutdownMode mode) override {
    return record("shutdown " + std::to_string(static_cast<int>(mode)));
  }
  Outcome set(const std::string& key, const std::string& value) override {
    return record("set " + key + "=" + value);
  }

 private:
  Outcome record(std::string call) {
    calls.push_back(std::move(call));
    return fail ? Outcome::failed("58000", "the fake controls refused") : Outcome::done();
  }
  // A command that waits: done after wait_polls polls (each one has its own count).
  Outcome waiting(Outcome outcome) const {
    if (outcome.sqlstate != nullptr || wait_polls == 0) return outcome;
    auto polls = std::make_shared<int>(wait_polls);
    return Outcome::wait_until([polls] { return --*polls <= 0; });
  }
};

}  // namespace pooler::testing
