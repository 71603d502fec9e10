// Controls for the console fuzz targets: a fixed snapshot with a pool, clients and servers, and a
// log of every control command that reached it. Whether commands fail or wait is the input's
// choice.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pooler/admin/controls.hpp"
#include "pooler/config/config.hpp"

namespace pooler::fuzz {

class FakeControls final : public admin::Controls {
 public:
  using Database = admin::Database;
  using Outcome = admin::Outcome;

  bool fail = false;   // control commands answer an error
  int wait_polls = 0;  // PAUSE and WAIT_CLOSE complete after this many polls
  std::vector<std::string> calls;

  admin::Snapshot snapshot() override {
    admin::Snapshot snap;
    snap.version = "pooler fuzz";
    auto config = std::make_shared<config::Config>();
    config->databases["app"].name = "app";
    config->users["api"].name = "api";
    snap.config = config;
    admin::PoolView pool;
    pool.database = "app";
    pool.user = "api";
    pool.pool_mode = "transaction";
    snap.pools.push_back(pool);
    admin::ConnectionView client;
    client.type = 'C';
    client.user = "api";
    client.database = "app";
    client.state = "active";
    client.id = 7;
    client.link = 8;
    client.send_remain = 12;
    client.in_flight = true;
    snap.clients.push_back(client);
    admin::ConnectionView server = client;
    server.type = 'S';
    server.id = 8;
    server.link = 7;
    server.send_remain = 0;
    snap.servers.push_back(server);
    return snap;
  }

  Outcome pause(const Database& db) override { return waiting("pause " + db.value_or("*")); }
  Outcome resume(const Database& db) override { return record("resume " + db.value_or("*")); }
  Outcome suspend() override { return record("suspend"); }
  Outcome set_enabled(const std::string& db, bool on) override {
    return record((on ? "enable " : "disable ") + db);
  }
  Outcome kill(const Database& db) override { return record("kill " + db.value_or("*")); }
  Outcome kill_client(std::uint64_t id) override {
    return record("kill_client " + std::to_string(id));
  }
  Outcome reconnect(const Database& db) override { return record("reconnect " + db.value_or("*")); }
  Outcome wait_close(const Database& db) override {
    return waiting("wait_close " + db.value_or("*"));
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
    return fail ? Outcome::failed("58000", "the fuzz controls refused") : Outcome::done();
  }
  Outcome waiting(std::string call) {
    Outcome outcome = record(std::move(call));
    if (outcome.sqlstate != nullptr || wait_polls == 0) {
      return outcome;
    }
    auto polls = std::make_shared<int>(wait_polls);
    return Outcome::wait_until([polls] { return --*polls <= 0; });
  }
};

}  // namespace pooler::fuzz
