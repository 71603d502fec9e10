// The console fuzz targets' controls: the tests' FakeControls, answering from a snapshot with a
// pool, a client and a server to format. Whether commands fail or wait is the input's choice.
#pragma once

#include <memory>

#include "../tests/admin/fake_controls.hpp"

namespace pooler::fuzz {

using testing::FakeControls;

inline FakeControls fuzz_controls() {
  FakeControls controls;
  admin::Snapshot& snap = controls.snap;
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
  return controls;
}

}  // namespace pooler::fuzz
