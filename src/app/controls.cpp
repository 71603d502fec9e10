// The process-wide actions: the console's controls, reload and the shutdown modes.
#include <spdlog/spdlog.h>

#include "app_state.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/config/reload_plan.hpp"
#include "pooler/config/schema.hpp"
#include "pooler/net/defer.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::app {

namespace ss = protocol::sqlstate;
using admin::Outcome;

admin::Snapshot App::State::snapshot() {
  auto snap = admin::take_snapshot(clients, pools, config, "pooler " POOLER_VERSION);
  snap.suspended = loop.suspension().held();
  for (const net::DnsCache::HostView& h : dns.hosts()) {
    auto ttl = std::chrono::duration_cast<std::chrono::seconds>(h.ttl).count();
    snap.dns_hosts.push_back({h.hostname, ttl, fmt::format("{}", fmt::join(h.addresses, ","))});
  }
  snap.dns_queries = static_cast<std::int64_t>(dns.queries());
  snap.dns_pending = static_cast<std::int64_t>(dns.waiting());
  for (const alerts::Alert& a : alert_engine.firing()) {
    snap.alerts.push_back({a.name, a.database, a.user, a.severity, a.starts_at, a.value,
                           a.threshold});
  }
  return snap;
}

std::optional<Outcome> App::State::unknown(const admin::Database& database) const {
  if (!database || config->find_database(*database)) return std::nullopt;
  return Outcome::failed(ss::kInvalidCatalogName, "no such database: " + *database);
}

Outcome App::State::pause(const admin::Database& database) {
  if (auto error = unknown(database)) return *error;
  if (database ? pools.paused(*database) : pools.paused_all()) {
    return Outcome::failed(ss::kObjectNotInPrerequisiteState, "already paused");
  }
  if (loop.suspension().held()) {
    return Outcome::failed(ss::kObjectNotInPrerequisiteState, "already suspended");
  }
  spdlog::info("PAUSE {}: waiting for servers to be released", database.value_or("(all)"));
  pools.pause(database);
  // A RESUME before every server was released also ends the wait: nothing is paused any more.
  return Outcome::wait_until([this, database] {
    bool still_paused = database ? pools.paused(*database) : pools.paused_all();
    return !still_paused || pools.pause_complete(database);
  });
}

Outcome App::State::resume(const admin::Database& database) {
  if (auto error = unknown(database)) return *error;
  // PgBouncer's answer: a shutdown's pause (WAIT_FOR_SERVERS) is not undone.
  if (phase != Phase::kRunning) {
    return Outcome::failed(ss::kObjectNotInPrerequisiteState, "pooler is shutting down");
  }
  if (loop.suspension().held()) {
    if (database) {
      return Outcome::failed(ss::kObjectNotInPrerequisiteState,
                             "the pooler is suspended; RESUME without a database ends that");
    }
    spdlog::info("RESUME: reading again after SUSPEND");
    loop.suspension().release();
    return Outcome::done();
  }
  if (database ? !pools.paused(*database) : !pools.any_paused()) {
    return Outcome::failed(ss::kObjectNotInPrerequisiteState, "pooler is not paused");
  }
  if (database && pools.paused_all()) {
    return Outcome::failed(ss::kObjectNotInPrerequisiteState,
                           "every database is paused; RESUME without a database ends that");
  }
  spdlog::info("RESUME {}", database.value_or("(all)"));
  pools.resume(database);
  return Outcome::done();
}

// PgBouncer's SUSPEND: every stream but the admin consoles' stops reading, queued output is
// flushed, and the answer comes once it is (or suspend_timeout drops what could not flush).
Outcome App::State::suspend() {
  if (loop.suspension().held() || pools.any_paused()) {
    return Outcome::failed(ss::kObjectNotInPrerequisiteState, "already suspended/paused");
  }
  spdlog::info("SUSPEND: reading stopped; flushing queued output");
  loop.suspension().hold();
  util::TimePoint deadline = clock.now() + util::seconds_to_duration(
                                               config->settings.suspend_timeout);
  return Outcome::wait_until([this, deadline] {
    if (!loop.suspension().held() || loop.suspension().unsent_bytes() == 0) return true;
    if (clock.now() < deadline) return false;
    std::size_t dropped = loop.suspension().drop_unflushed();
    spdlog::warn("SUSPEND: {} connection(s) could not flush within suspend_timeout; closed",
                 dropped);
    return true;
  });
}

Outcome App::State::set_enabled(const std::string& database, bool enabled) {
  if (auto error = unknown(database)) return *error;
  spdlog::info("{} {}", enabled ? "ENABLE" : "DISABLE", database);
  pools.set_disabled(database, !enabled);
  return Outcome::done();
}

Outcome App::State::kill(const admin::Database& database) {
  if (auto error = unknown(database)) return *error;
  spdlog::info("KILL {}: closing its clients and servers", database.value_or("(all)"));
  // Paused first, so the servers the clients give back are closed, not reused.
  pools.pause(database);
  clients.for_each_selected(
      [&](const frontend::ClientConnection& c) {
        return !c.console_client() && (!database || c.database() == *database);
      },
      [](frontend::ClientConnection& c) {
        c.fail(ss::kAdminShutdown, "database killed by an administrator (KILL)");
      });
  return Outcome::done();
}

Outcome App::State::kill_client(std::uint64_t id) {
  if (!clients.kill(id, "client killed by an administrator (KILL_CLIENT)")) {
    return Outcome::failed(ss::kUndefinedObject, "client not found");  // PgBouncer's words
  }
  spdlog::info("KILL_CLIENT {}", id);
  return Outcome::done();
}

Outcome App::State::reconnect(const admin::Database& database) {
  if (auto error = unknown(database)) return *error;
  spdlog::info("RECONNECT {}", database.value_or("(all)"));
  pools.reconnect(database);
  // New servers may log in differently; so may users auth_query found (PgBouncer keeps no cache
  // to clear, so nothing of it outlives a RECONNECT here either).
  clients.auth_cache().clear();
  return Outcome::done();
}

Outcome App::State::wait_close(const admin::Database& database) {
  if (auto error = unknown(database)) return *error;
  return Outcome::wait_until([this, database] { return pools.reconnect_complete(database); });
}

Outcome App::State::reload() {
  spdlog::info("RELOAD command issued");
  if (auto error = reload_config()) {
    // PgBouncer 1.25's words, which scripts match; what went wrong follows as the DETAIL.
    spdlog::error("RELOAD Failed, see logs for more details");
    return Outcome::failed(ss::kConfigFileError, "RELOAD failed, see logs for additional details",
                           *error);
  }
  return Outcome::done();
}

Outcome App::State::shutdown(admin::ShutdownMode mode) {
  begin_shutdown(mode);
  return Outcome::done();
}

Outcome App::State::set(const std::string& key, const std::string& value) {
  const config::SettingRow* row = config::find_setting(key);
  if (row == nullptr) {
    return Outcome::failed(ss::kUndefinedObject, "unknown config parameter: " + key);
  }
  if (!row->reloadable()) {
    return Outcome::failed(ss::kCantChangeRuntimeParam,
                           key + " cannot be changed while running; edit the file and restart");
  }
  auto next = std::make_shared<config::Config>(*config);
  if (auto problem = config::apply_setting(*row, next->settings, value)) {
    return Outcome::failed(ss::kInvalidParameterValue, *problem);
  }
  spdlog::info("SET {} = {}", row->key, config::render_setting(*row, next->settings));
  if (auto tls_error = adopt(std::move(next))) {
    return Outcome::failed(ss::kConfigFileError, *tls_error);
  }
  return Outcome::done();
}

std::optional<std::string> App::State::reload_config() {
  notify_service("RELOADING=1");
  auto loaded = config::load_config_file(options.config_path);
  // The console is told every error, as the log is, up to a screenful.
  constexpr int kErrorsTold = 10;
  std::string errors;
  int told = 0;
  for (const auto& d : loaded.diagnostics) {
    spdlog::warn("{}", config::format(d));
    if (d.severity != config::Severity::kError) continue;
    if (++told <= kErrorsTold) errors += "\n" + config::format(d);
  }
  if (told > kErrorsTold) errors += fmt::format("\n(and {} more)", told - kErrorsTold);
  if (!loaded.ok()) {
    spdlog::error("reload failed: configuration has errors, keeping the running one");
    ++pools.events().reloads_failed;
    notify_service("READY=1");
    return "configuration has errors, the running one stays:" + errors;
  }
  auto next = std::make_shared<config::Config>(std::move(loaded.config));
  config::ReloadPlan plan = config::diff(*config, *next);
  config::keep_restart_settings(*config, *next);
  spdlog::info("configuration reloaded: {}", plan.describe());
  if (!plan.needs_restart.empty()) {
    spdlog::warn("reload: {} changed but take effect only after a restart",
                 fmt::join(plan.needs_restart, ", "));
  }
  auto tls_error = adopt(std::move(next));
  notify_service("READY=1");
  if (tls_error) {
    // The rest is in force; the TLS side kept what it had, so the reload did not do it all.
    ++pools.events().reloads_failed;
    return "configuration reloaded, but " + *tls_error + "; the previous TLS settings stay";
  }
  ++pools.events().reloads_ok;
  return std::nullopt;
}

std::optional<std::string> App::State::adopt(std::shared_ptr<const config::Config> next) {
  config = std::move(next);
  // Like PgBouncer's reload: the log file is reopened (so rotation needs only a SIGHUP), verbose
  // and the syslog settings take effect at once.
  if (auto error =
          util::configure_logging(log_options_for(config->settings, options.command_line_log))) {
    spdlog::error("{}; logging goes on as before", *error);
  }
  apply_dns_settings();
  apply_config_watch();
  // A failure keeps the running contexts (TLS never drops), is logged, and is returned.
  std::optional<std::string> tls_error = apply_tls_settings();
  std::set<std::string> gone = pools.apply(*config);
  clients.adopt_config(config);
  clients.auth_cache().clear();  // the look-ups, their queries or their users may have changed
  // Clients of a database that is no longer there (or now forces another user) finish their
  // transaction first, then are told.
  clients.for_each_selected(
      [&](const frontend::ClientConnection& c) {
        return !c.console_client() && c.state() != frontend::ClientState::kStartup &&
               c.state() != frontend::ClientState::kAuth &&
               c.state() != frontend::ClientState::kCancelRequest &&
               (gone.count(c.database()) > 0 || !config->find_database(c.database()));
      },
      [](frontend::ClientConnection& c) {
        c.finish_at_boundary(ss::kAdminShutdown,
                             "database \"" + c.database() +
                                 "\" was removed or changed in the configuration; reconnect");
      });
  return tls_error;
}

void App::State::begin_shutdown(admin::ShutdownMode mode) {
  bool again = phase == Phase::kWaitForClients || phase == Phase::kWaitForServers;
  if (phase == Phase::kStopped) return;
  if (mode == admin::ShutdownMode::kImmediate || again) {
    // A second SIGTERM (or any second request) does not wait any more.
    request_finish();
    return;
  }
  notify_service("STOPPING=1");
  // As PgBouncer: no new clients over TCP; the unix socket stays, so an operator's console can
  // watch the drain (other logins there are refused).
  stop_listening(/*keep_unix=*/true);
  clients.refuse_new_logins();
  // Nobody could finish while suspended: the shutdown ends the suspension.
  loop.suspension().release();
  if (mode == admin::ShutdownMode::kWaitForServers) {
    spdlog::info("shutting down once every server is released (WAIT_FOR_SERVERS)");
    phase = Phase::kWaitForServers;
    pools.pause(std::nullopt);
    return;
  }
  phase = Phase::kWaitForClients;
  if (mode == admin::ShutdownMode::kWaitForClients) {
    // Clients keep working, across as many transactions as they like, until they leave.
    spdlog::info("shutting down once every client has left (WAIT_FOR_CLIENTS)");
    return;
  }
  spdlog::info("shutting down at each client's next transaction boundary (DRAIN)");
  // Beyond PgBouncer, for rolling restarts: a client whose server is shared per transaction
  // loses nothing by being told at its next transaction boundary, so it need not be waited for.
  // Session clients keep their session until they leave.
  clients.for_each_selected(
      [](const frontend::ClientConnection& c) {
        if (c.console_client()) return false;
        auto mode = c.pool_mode();
        return !mode || *mode != config::PoolMode::kSession;
      },
      [](frontend::ClientConnection& c) {
        c.finish_at_boundary(ss::kAdminShutdown, "pooler is shutting down");
      });
}

void App::State::stop_listening(bool keep_unix) {
  // Connections the kernel already completed are served (and drained) rather than reset.
  std::vector<std::unique_ptr<net::Listener>> kept;
  for (auto& listener : listeners) {
    if (keep_unix && listener->unix_socket()) {
      kept.push_back(std::move(listener));
      continue;
    }
    listener->accept_pending();
  }
  listeners = std::move(kept);
}

void App::State::request_finish() {
  // Never from inside the callback that asked (a console client, the janitor): finishing
  // destroys them.
  net::defer(loop, [this] { finish_shutdown(); });
}

void App::State::finish_shutdown() {
  if (phase == Phase::kStopped) return;
  if (phase == Phase::kRunning) notify_service("STOPPING=1");
  phase = Phase::kStopped;
  stop_listening();
  clients.close_all();
  pools.close_all();
  janitor.reset();
  config_watch.reset();
  for (auto* sig : signals) {
    uv_close(reinterpret_cast<uv_handle_t*>(sig),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  }
  signals.clear();
  // Clients are closing; let the queued error messages go out before the loop ends.
  graveyard.clear();
}

}  // namespace pooler::app
