// The SHOW views. Column lists are PgBouncer's, in its wire order.
#include "pooler/admin/views.hpp"

#include <ctime>
#include <map>

#include "pooler/config/schema.hpp"

namespace pooler::admin {

namespace {

using T = ColumnType;

Cell text(std::string s) { return s; }
Cell num(std::int64_t v) { return std::to_string(v); }
Cell null() { return std::nullopt; }

ResultTable table(std::initializer_list<Column> columns) {
  ResultTable t;
  t.columns = columns;
  return t;
}

std::string pointer_text(std::uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return buf;
}

// What SHOW DATABASES lists, by name: the configured entries and, as PgBouncer's autodbs, each
// database served through "*" now with the "*" entry's settings. The "*" entry itself is a
// template, not a database, and PgBouncer does not list it.
std::map<std::string, config::DatabaseEntry> listed_databases(const Snapshot& snap) {
  std::map<std::string, config::DatabaseEntry> listed;
  for (const auto& [name, db] : snap.config->databases) {
    if (name != "*") listed.emplace(name, db);
  }
  for (const std::string& name : snap.auto_databases) {
    if (listed.count(name) > 0) continue;
    if (auto db = snap.config->find_database(name)) listed.emplace(name, std::move(*db));
  }
  return listed;
}

ResultTable connections(const std::vector<ConnectionView>& list) {
  auto t = table({{"type", T::kText},           {"user", T::kText},
                  {"database", T::kText},       {"replication", T::kText},
                  {"state", T::kText},          {"addr", T::kText},
                  {"port", T::kInt4},           {"local_addr", T::kText},
                  {"local_port", T::kInt4},     {"connect_time", T::kTimestamp},
                  {"request_time", T::kTimestamp}, {"wait", T::kInt4},
                  {"wait_us", T::kInt4},        {"close_needed", T::kInt4},
                  {"ptr", T::kText},            {"link", T::kText},
                  {"remote_pid", T::kInt4},     {"tls", T::kText},
                  {"application_name", T::kText}, {"prepared_statements", T::kInt4},
                  {"id", T::kInt4}});
  for (const auto& c : list) {
    t.add_row({text(std::string(1, c.type)), text(c.user), text(c.database), text(c.replication),
               text(c.state), text(c.addr), num(c.port), text(c.local_addr), num(c.local_port),
               text(format_time(c.connect_time)), text(format_time(c.request_time)),
               num(c.wait_us / 1000000), num(c.wait_us % 1000000), num(c.close_needed ? 1 : 0),
               text(pointer_text(c.id)), c.link ? text(pointer_text(c.link)) : text(""),
               num(c.remote_pid), text(c.tls), text(c.application_name),
               num(c.prepared_statements),
               num(static_cast<std::int64_t>(c.id))});
  }
  return t;
}

// PgBouncer's stats fields in its column order, with each name it goes by: in SHOW STATS_TOTALS,
// after total_ and avg_ in SHOW STATS, and the internal name SHOW TOTALS prints.
struct StatsField {
  const char* name;
  const char* total_name;
  const char* avg_name;
  const char* internal_name;
  std::uint64_t metrics::PoolStats::*member;
};

using S = metrics::PoolStats;
constexpr StatsField kStatsFields[] = {
    {"server_assignment_count", "server_assignment_count", "server_assignment_count",
     "server_assignment_count", &S::server_assignment_count},
    {"xact_count", "xact_count", "xact_count", "xact_count", &S::xact_count},
    {"query_count", "query_count", "query_count", "query_count", &S::query_count},
    {"bytes_received", "received", "recv", "client_bytes", &S::bytes_received},
    {"bytes_sent", "sent", "sent", "server_bytes", &S::bytes_sent},
    {"xact_time", "xact_time", "xact_time", "xact_time", &S::xact_time_us},
    {"query_time", "query_time", "query_time", "query_time", &S::query_time_us},
    {"wait_time", "wait_time", "wait_time", "wait_time", &S::wait_time_us},
    {"client_parse_count", "client_parse_count", "client_parse_count", "ps_client_parse_count",
     &S::client_parse_count},
    {"server_parse_count", "server_parse_count", "server_parse_count", "ps_server_parse_count",
     &S::server_parse_count},
    {"bind_count", "bind_count", "bind_count", "ps_bind_count", &S::bind_count},
    {"client_login_count", "client_login_count", "client_login_count", "client_login_count",
     &S::client_login_count},
};

enum class StatsNaming { kShowStatsTotal, kShowStatsAvg, kTotals, kAverages };

std::string column_name(const StatsField& f, std::size_t index, StatsNaming naming) {
  // STATS_AVERAGES prefixes only the fields after wait_time (stats.c), a quirk scripts rely on.
  constexpr std::size_t kFirstPrefixedAverage = 8;
  switch (naming) {
    case StatsNaming::kShowStatsTotal:
      return std::string("total_") + f.total_name;
    case StatsNaming::kShowStatsAvg:
      return std::string("avg_") + f.avg_name;
    case StatsNaming::kTotals:
      return f.name;
    case StatsNaming::kAverages:
      return index >= kFirstPrefixedAverage ? std::string("avg_") + f.name : f.name;
  }
  return f.name;
}

Cell big(std::uint64_t v) { return std::to_string(v); }

void add_stats_columns(ResultTable& t, StatsNaming naming) {
  for (std::size_t i = 0; i < std::size(kStatsFields); ++i) {
    t.columns.push_back({column_name(kStatsFields[i], i, naming), T::kNumeric});
  }
}

void add_stats_cells(std::vector<Cell>& row, const metrics::PoolStats& stats) {
  for (const auto& f : kStatsFields) row.push_back(big(stats.*f.member));
}

}  // namespace

std::string format_time(WallTime time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S GMT", &tm);
  return buf;
}

ResultTable show_pools(const Snapshot& snap) {
  auto t = table({{"database", T::kText},
                  {"user", T::kText},
                  {"cl_active", T::kInt4},
                  {"cl_waiting", T::kInt4},
                  {"cl_active_cancel_req", T::kInt4},
                  {"cl_waiting_cancel_req", T::kInt4},
                  {"sv_active", T::kInt4},
                  {"sv_active_cancel", T::kInt4},
                  {"sv_being_canceled", T::kInt4},
                  {"sv_idle", T::kInt4},
                  {"sv_used", T::kInt4},
                  {"sv_tested", T::kInt4},
                  {"sv_login", T::kInt4},
                  {"maxwait", T::kInt4},
                  {"maxwait_us", T::kInt4},
                  {"pool_mode", T::kText},
                  {"load_balance_hosts", T::kText}});
  for (const auto& p : snap.pools) {
    t.add_row({text(p.database), text(p.user), num(p.cl_active), num(p.cl_waiting),
               num(p.cl_active_cancel_req), num(p.cl_waiting_cancel_req), num(p.sv_active),
               num(p.sv_active_cancel), num(p.sv_being_canceled), num(p.sv_idle), num(p.sv_used),
               num(p.sv_tested), num(p.sv_login), num(p.maxwait_us / 1000000),
               num(p.maxwait_us % 1000000), text(p.pool_mode),
               p.load_balance_hosts.empty() ? null() : text(p.load_balance_hosts)});
  }
  return t;
}

ResultTable show_clients(const Snapshot& snap) { return connections(snap.clients); }

ResultTable show_servers(const Snapshot& snap) { return connections(snap.servers); }

ResultTable show_databases(const Snapshot& snap) {
  auto t = table({{"name", T::kText},
                  {"host", T::kText},
                  {"port", T::kInt4},
                  {"database", T::kText},
                  {"force_user", T::kText},
                  {"pool_size", T::kInt4},
                  {"min_pool_size", T::kInt4},
                  {"reserve_pool_size", T::kInt4},
                  {"server_lifetime", T::kInt4},
                  {"pool_mode", T::kText},
                  {"load_balance_hosts", T::kText},
                  {"max_connections", T::kInt4},
                  {"current_connections", T::kInt4},
                  {"max_client_connections", T::kInt4},
                  {"current_client_connections", T::kInt4},
                  {"paused", T::kInt4},
                  {"disabled", T::kInt4}});
  const auto& s = snap.config->settings;
  std::map<std::string, int> servers;
  for (const auto& v : snap.servers) ++servers[v.database];
  // PgBouncer's count: every client that named it, logging in or on the console too.
  std::map<std::string, int> clients = snap.database_clients;
  for (const auto& [name, db] : listed_databases(snap)) {
    // The port column is one int4: a port list shows its first port (the host column has all).
    t.add_row({text(name), text(db.host), num(db.ports.front()),
               text(db.dbname.empty() ? name : db.dbname),
               db.user.empty() ? null() : text(db.user),
               num(db.pool_size.value_or(s.default_pool_size)),
               num(db.min_pool_size.value_or(s.min_pool_size)),
               num(db.reserve_pool_size.value_or(s.reserve_pool_size)),
               num(static_cast<std::int64_t>(db.server_lifetime.value_or(s.server_lifetime))),
               db.pool_mode ? text(config::to_string(*db.pool_mode)) : null(),
               db.has_host_list() ? text(db.load_balance_hosts) : null(),
               num(db.max_db_connections.value_or(s.max_db_connections)), num(servers[name]),
               num(db.max_db_client_connections.value_or(s.max_db_client_connections)),
               num(clients[name]), num(snap.paused_databases.count(name)),
               num(snap.disabled_databases.count(name))});
  }
  return t;
}

ResultTable show_users(const Snapshot& snap) {
  auto t = table({{"name", T::kText},
                  {"pool_size", T::kInt4},
                  {"reserve_pool_size", T::kInt4},
                  {"pool_mode", T::kText},
                  {"max_user_connections", T::kInt4},
                  {"current_connections", T::kInt4},
                  {"max_user_client_connections", T::kInt4},
                  {"current_client_connections", T::kInt4}});
  const auto& s = snap.config->settings;
  std::map<std::string, int> servers;
  for (const auto& v : snap.servers) ++servers[v.user];
  // PgBouncer's count: every client that named it, logging in or on the console too.
  std::map<std::string, int> clients = snap.user_clients;
  for (const auto& [name, u] : snap.config->users) {
    t.add_row({text(name), num(u.pool_size.value_or(s.default_pool_size)),
               num(u.reserve_pool_size.value_or(s.reserve_pool_size)),
               u.pool_mode ? text(config::to_string(*u.pool_mode)) : null(),
               num(u.max_user_connections.value_or(s.max_user_connections)), num(servers[name]),
               num(u.max_user_client_connections.value_or(s.max_user_client_connections)),
               num(clients[name])});
  }
  return t;
}

ResultTable show_config(const Snapshot& snap) {
  auto t = table({{"key", T::kText}, {"value", T::kText}, {"default", T::kText},
                  {"changeable", T::kText}});
  for (const auto& row : config::setting_rows()) {
    t.add_row({text(std::string(row.key)), text(config::render_setting(row, snap.config->settings)),
               text(std::string(row.default_text)), text(row.reloadable() ? "yes" : "no")});
  }
  return t;
}

ResultTable show_state(const Snapshot& snap) {
  auto t = table({{"key", T::kText}, {"value", T::kText}});
  t.add_row({text("active"), text(snap.paused || snap.suspended ? "no" : "yes")});
  t.add_row({text("paused"), text(snap.paused ? "yes" : "no")});
  t.add_row({text("suspended"), text(snap.suspended ? "yes" : "no")});
  return t;
}

ResultTable show_lists(const Snapshot& snap) {
  auto t = table({{"list", T::kText}, {"items", T::kInt4}});
  int used_servers = 0;
  for (const auto& s : snap.servers) {
    if (s.state != "idle") ++used_servers;
  }
  int login_clients = 0;
  for (const auto& c : snap.clients) {
    if (c.state == "waiting") ++login_clients;
  }
  std::vector<std::pair<const char*, std::int64_t>> rows = {
      {"databases", static_cast<std::int64_t>(listed_databases(snap).size())},
      {"users", static_cast<std::int64_t>(snap.config->users.size())},
      {"peers", static_cast<std::int64_t>(snap.config->peers.size())},
      {"pools", static_cast<std::int64_t>(snap.pools.size())},
      {"peer_pools", static_cast<std::int64_t>(snap.peer_cancels_in_flight.size())},
      {"free_clients", 0},
      {"used_clients", static_cast<std::int64_t>(snap.clients.size())},
      {"login_clients", login_clients},
      {"free_servers", 0},
      {"used_servers", used_servers},
      {"dns_names", static_cast<std::int64_t>(snap.dns_hosts.size())},
      {"dns_zones", 0},
      {"dns_queries", snap.dns_queries},
      {"dns_pending", snap.dns_pending}};
  for (const auto& [name, items] : rows) t.add_row({text(name), num(items)});
  return t;
}

ResultTable show_dns_hosts(const Snapshot& snap) {
  auto t = table({{"hostname", T::kText}, {"ttl", T::kInt8}, {"addrs", T::kText}});
  for (const DnsHostView& h : snap.dns_hosts) {
    t.add_row({text(h.hostname), num(h.ttl), text(h.addrs)});
  }
  return t;
}

// pooler checks no DNS zones (dns_zone_check_period): the list is always empty.
ResultTable show_dns_zones(const Snapshot&) {
  return table({{"zonename", T::kText}, {"serial", T::kInt8}, {"count", T::kInt4}});
}

ResultTable show_alerts(const Snapshot& snap) {
  auto t = table({{"alert", T::kText},
                  {"database", T::kText},
                  {"user", T::kText},
                  {"severity", T::kText},
                  {"since", T::kTimestamp},
                  {"value", T::kNumeric},
                  {"threshold", T::kNumeric}});
  auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return text(buf);
  };
  for (const AlertView& a : snap.alerts) {
    t.add_row({text(a.alert), a.database.empty() ? null() : text(a.database),
               a.user.empty() ? null() : text(a.user), text(a.severity),
               text(format_time(a.since)), number(a.value), number(a.threshold)});
  }
  return t;
}

ResultTable show_version(const Snapshot& snap) {
  auto t = table({{"version", T::kText}});
  t.add_row({text(snap.version)});
  return t;
}


namespace {

// One row per database: its name, then each part's fields named the part's way.
struct StatsPart {
  StatsNaming naming;
  metrics::PoolStats DatabaseStats::*values;
};

ResultTable stats_table(const Snapshot& snap, std::initializer_list<StatsPart> parts) {
  auto t = table({{"database", T::kText}});
  for (const auto& part : parts) add_stats_columns(t, part.naming);
  for (const auto& db : snap.stats) {
    std::vector<Cell> row{text(db.database)};
    for (const auto& part : parts) add_stats_cells(row, db.*part.values);
    t.add_row(std::move(row));
  }
  return t;
}

}  // namespace

ResultTable show_stats(const Snapshot& snap) {
  return stats_table(snap, {{StatsNaming::kShowStatsTotal, &DatabaseStats::totals},
                            {StatsNaming::kShowStatsAvg, &DatabaseStats::averages}});
}

ResultTable show_stats_totals(const Snapshot& snap) {
  return stats_table(snap, {{StatsNaming::kTotals, &DatabaseStats::totals}});
}

ResultTable show_stats_averages(const Snapshot& snap) {
  return stats_table(snap, {{StatsNaming::kAverages, &DatabaseStats::averages}});
}

ResultTable show_totals(const Snapshot& snap) {
  auto t = table({{"name", T::kText}, {"value", T::kNumeric}});
  metrics::PoolStats totals;
  metrics::StatsAverages averages;
  for (const auto& db : snap.stats) {
    totals += db.totals;
    averages += db.averages;
  }
  for (const auto& f : kStatsFields) {
    t.add_row({text(std::string("total_") + f.internal_name), big(totals.*f.member)});
  }
  for (const auto& f : kStatsFields) {
    t.add_row({text(std::string("avg_") + f.internal_name), big(averages.*f.member)});
  }
  return t;
}

// PgBouncer reports its slab caches; pooler has no slabs, so each row is a kind of long-lived
// object: its size, how many are in use, and the product. Nothing is kept free.
ResultTable show_mem(const Snapshot& snap) {
  auto t = table({{"name", T::kText},
                  {"size", T::kInt4},
                  {"used", T::kInt4},
                  {"free", T::kInt4},
                  {"memtotal", T::kInt4}});
  for (const auto& row : snap.memory) {
    t.add_row({text(row.name), num(row.size), num(row.used), num(0), num(row.size * row.used)});
  }
  return t;
}

}  // namespace pooler::admin
