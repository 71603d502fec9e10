// Copies the live state of clients, pools and servers into a Snapshot, in PgBouncer's terms.
#include "pooler/admin/snapshot.hpp"

#include <map>
#include <unordered_map>

#include "pooler/frontend/client_registry.hpp"
#include "pooler/pool/pool_registry.hpp"

namespace pooler::admin {

namespace {

using frontend::ClientState;

WallTime to_wall(util::TimePoint t, util::TimePoint steady_now, WallTime wall_now) {
  return wall_now - std::chrono::duration_cast<WallTime::duration>(steady_now - t);
}

const char* server_state_word(backend::ServerState state) {
  switch (state) {
    case backend::ServerState::kActive:
      return "active";
    case backend::ServerState::kIdle:
      return "idle";
    case backend::ServerState::kInternal:
      return "tested";
    case backend::ServerState::kBeingCanceled:
      return "being_canceled";
    case backend::ServerState::kConnecting:
    case backend::ServerState::kLogin:
      return "new";
    case backend::ServerState::kClosed:
      return "closed";
  }
  return "?";
}

ConnectionView server_view(const backend::ServerConnection& s, const std::string& database,
                           util::TimePoint steady_now, WallTime wall_now) {
  ConnectionView v;
  v.type = 'S';
  v.user = s.target().user;
  v.database = database;
  v.state = server_state_word(s.state());
  // The address it is connected to (a name's, from DNS), on the host it chose from the list.
  v.addr = s.remote_address().empty() ? s.target().host : s.remote_address();
  v.port = s.target().port;
  v.connect_time = s.connected_wall();
  v.request_time = to_wall(s.state_since(), steady_now, wall_now);
  v.id = s.id();
  v.remote_pid = s.backend_pid();
  v.prepared_statements = static_cast<int>(s.statements().size());
  v.tls = s.tls_description();
  v.close_needed = s.close_needed();
  if (auto name = s.parameters().get("application_name")) {
    v.application_name = *name;
  }
  v.send_remain = static_cast<std::int64_t>(s.unsent_bytes());
  // Its login and the pooler's own statements (reset) are requests in flight too.
  const backend::ServerState state = s.state();
  v.in_flight = s.busy() || state == backend::ServerState::kConnecting ||
                state == backend::ServerState::kLogin ||
                state == backend::ServerState::kInternal || v.send_remain > 0;
  return v;
}

}  // namespace

Snapshot take_snapshot(const frontend::ClientRegistry& clients, const pool::PoolRegistry& pools,
                       std::shared_ptr<const config::Config> config, std::string version) {
  Snapshot snap;
  snap.version = std::move(version);
  snap.now = std::chrono::system_clock::now();
  snap.config = std::move(config);
  for (const auto& [id, peer] : snap.config->peers) {
    snap.peer_cancels_in_flight[id] = clients.peers().in_flight(id);
  }
  auto steady_now = std::chrono::steady_clock::now();

  std::unordered_map<const backend::ServerConnection*, std::uint64_t> client_of_server;
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> client_counts;
  std::vector<ConnectionView> replication_servers;
  clients.for_each([&](const frontend::ClientConnection& c) {
    ClientState state = c.state();
    if (state == ClientState::kStartup || state == ClientState::kAuth ||
        state == ClientState::kCancelRequest || state == ClientState::kClosed) {
      return;
    }
    ConnectionView v;
    v.type = 'C';
    v.user = c.user();
    v.database = c.database();
    bool waiting = state == ClientState::kWaiting || state == ClientState::kLoginWait;
    bool replicating = state == ClientState::kReplication;
    v.state = waiting ? "waiting" : (c.server() != nullptr || replicating ? "active" : "idle");
    v.replication = frontend::replication_word(c.replication());
    v.addr = c.peer().addr;
    v.port = c.peer().port;
    auto local = c.local();
    v.local_addr = local.addr;
    v.local_port = local.port;
    v.connect_time = c.connected_wall();
    v.request_time = v.connect_time;
    v.wait_us = util::duration_to_micros(c.waiting_for());
    v.id = c.id();
    v.application_name = c.application_name();
    v.prepared_statements = static_cast<int>(c.prepared_statement_count());
    v.tls = c.tls_description();
    if (const auto* server = c.server()) {
      v.link = server->id();
      client_of_server[server] = c.id();
    }
    if (const auto* server = c.replication_server()) {
      // A replication connection's server belongs to no pool: listed here, beside its client.
      v.link = server->id();
      ConnectionView sv = server_view(*server, c.database(), steady_now, snap.now);
      sv.link = c.id();
      sv.replication = v.replication;
      replication_servers.push_back(std::move(sv));
    }
    v.recv_pos = static_cast<std::int64_t>(c.held_bytes());
    v.send_remain = static_cast<std::int64_t>(c.unsent_bytes());
    v.in_flight = waiting || (c.server() != nullptr && c.server()->busy()) || v.recv_pos > 0 ||
                  v.send_remain > 0;
    // Under the pool's user: a forced user's pool counts every client of its database.
    const std::string& pool_user = c.pool() != nullptr ? c.pool()->key().user : c.user();
    if (!replicating) {  // it uses no pool
      auto& counts = client_counts[{c.database(), pool_user}];
      (waiting ? counts.second : counts.first) += 1;
    }
    snap.clients.push_back(std::move(v));
  });

  std::map<std::string, DatabaseStats> stats;
  pools.for_each([&](const pool::Pool& p) {
    DatabaseStats& db = stats[p.key().database];
    db.database = p.key().database;
    db.totals += p.stats();
    db.averages += p.averages();

    PoolView view;
    view.database = p.key().database;
    view.user = p.key().user;
    auto counts = p.counts();
    view.sv_active = counts.active;
    view.sv_idle = counts.idle;
    view.sv_tested = counts.resetting;
    view.sv_login = counts.opening;
    view.cl_waiting = counts.waiting;
    view.cl_active_cancel_req = counts.cancel_requests_active;
    view.cl_waiting_cancel_req = counts.cancel_requests_waiting;
    view.sv_active_cancel = counts.cancel_connections;
    view.sv_being_canceled = counts.being_canceled;
    auto it = client_counts.find({view.database, view.user});
    if (it != client_counts.end()) view.cl_active = it->second.first;
    view.maxwait_us = util::duration_to_micros(p.longest_wait());
    view.pool_mode = config::to_string(p.settings().mode);
    if (auto entry = snap.config->find_database(view.database); entry && entry->has_host_list()) {
      view.load_balance_hosts = entry->load_balance_hosts;
    }
    snap.pools.push_back(view);

    p.for_each_server([&](const backend::ServerConnection& s) {
      ConnectionView v = server_view(s, p.key().database, steady_now, snap.now);
      auto link = client_of_server.find(&s);
      if (link != client_of_server.end()) v.link = link->second;
      snap.servers.push_back(std::move(v));
    });
  });
  for (auto& v : replication_servers) snap.servers.push_back(std::move(v));
  for (auto& [name, db] : stats) snap.stats.push_back(std::move(db));
  snap.paused = pools.paused_all();
  snap.auto_databases = pools.auto_databases();
  const auto& limits = clients.limits();
  snap.database_clients = {limits.databases().begin(), limits.databases().end()};
  snap.user_clients = {limits.users().begin(), limits.users().end()};
  auto note_state = [&](const std::string& name) {
    if (pools.paused(name)) snap.paused_databases.insert(name);
    if (pools.disabled(name)) snap.disabled_databases.insert(name);
  };
  for (const auto& [name, entry] : snap.config->databases) note_state(name);
  for (const std::string& name : snap.auto_databases) note_state(name);
  auto count = [](std::size_t n) { return static_cast<std::int64_t>(n); };
  snap.memory = {
      {"user_cache", count(sizeof(config::UserEntry)), count(snap.config->users.size())},
      {"db_cache", count(sizeof(config::DatabaseEntry)), count(snap.config->databases.size())},
      {"pool_cache", count(sizeof(pool::Pool)), count(snap.pools.size())},
      {"server_cache", count(sizeof(backend::ServerConnection)), count(snap.servers.size())},
      {"client_cache", count(sizeof(frontend::ClientConnection)), count(clients.size())},
  };
  return snap;
}

}  // namespace pooler::admin
