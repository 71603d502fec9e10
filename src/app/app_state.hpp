// App::State: every long-lived object of a running pooler, and the process-wide actions on them
// (reload, shutdown, the console's controls). Private to app/.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "pooler/admin/console.hpp"
#include "pooler/alerts/engine.hpp"
#include "pooler/alerts/webhook.hpp"
#include "pooler/admin/controls.hpp"
#include "pooler/app/app.hpp"
#include "pooler/config/config.hpp"
#include "pooler/frontend/client_registry.hpp"
#include "pooler/metrics/endpoint.hpp"
#include "pooler/net/dns_cache.hpp"
#include "pooler/net/file_watch.hpp"
#include "pooler/net/graveyard.hpp"
#include "pooler/net/listener.hpp"
#include "pooler/net/timer.hpp"
#include "pooler/pool/pool_registry.hpp"
#include "tls_setup.hpp"

namespace pooler::app {

// Tells the service manager (systemd) about state changes; a no-op without libsystemd.
void notify_service(const char* state);

struct App::State final : admin::Controls {
  // How far a shutdown has got. Waiting shutdowns end in kStopped from the janitor.
  enum class Phase { kRunning, kWaitForClients, kWaitForServers, kStopped };

  State(std::shared_ptr<const config::Config> c, RunOptions o);

  RunOptions options;
  std::shared_ptr<const config::Config> config;
  util::SteadyClock clock;
  // Before the loop: TLS sessions freed while the loop drains still report to it.
  TlsSetup tls;
  net::Loop loop;
  net::Graveyard graveyard{loop};
  net::UvResolver resolver{loop};
  net::DnsCache dns{resolver, clock};
  pool::PoolRegistry pools{loop, dns, clock, graveyard};
  frontend::ClientRegistry clients{loop, clock, graveyard, pools, [this] { return config; }};
  admin::Console console{*this, POOLER_VERSION};
  std::vector<std::unique_ptr<net::Listener>> listeners;
  std::unique_ptr<net::Timer> janitor;
  std::unique_ptr<net::FileWatch> config_watch;  // null unless config_watch = 1
  std::vector<uv_signal_t*> signals;
  util::TimePoint stats_period_start = clock.now();
  Phase phase = Phase::kRunning;
  util::TimePoint started = clock.now();
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();

  // Observation: metrics, alerts and their sinks.
  std::unique_ptr<metrics::Endpoint> metrics_endpoint;  // null when metrics_port = 0
  bool metrics_retrying = false;  // -R: the predecessor still holds metrics_port
  alerts::Engine alert_engine;
  std::unique_ptr<alerts::Webhook> webhook;  // null without alert_webhook_url
  std::string webhook_url;                   // the URL `webhook` posts to
  util::TimePoint next_observation = clock.now();
  util::TimePoint last_resend = clock.now();
  bool server_logged_in = false;  // some server logged in since start (for /readyz)

  bool listen();
  // -R: the predecessor is told to stop accepting and drain, now that we listen beside it.
  void take_over();
  void on_signal(int signum);
  void on_janitor();
  void roll_stats_when_due();
  bool start_metrics();
  // Publishes a sample now rather than at the first janitor tick (readiness sees the listeners).
  void publish_first_sample();
  metrics::Sample take_sample();
  void observe_when_due();
  void apply_saturation_action();
  void send_to_webhook(const std::vector<alerts::Alert>& changes, util::TimePoint now);
  // Re-reads the config file; on errors keeps the running config and returns the reason.
  std::optional<std::string> reload_config();
  // Swaps in `next` (already validated) and applies it to pools and clients; the TLS files'
  // error, if a context could not be rebuilt (the old one then stays).
  std::optional<std::string> adopt(std::shared_ptr<const config::Config> next);
  // config_watch: starts, stops or re-aims the watch on the files the config in force reads.
  void apply_config_watch();
  // dns_max_ttl and dns_nxdomain_ttl from the config in force.
  void apply_dns_settings();
  // Builds or rebuilds the TLS contexts and hands them to clients and pools; the error, if any.
  std::optional<std::string> apply_tls_settings();
  void begin_shutdown(admin::ShutdownMode mode);
  // Closes the listeners (keep_unix: all but the unix socket's, which a shutdown keeps for the
  // console).
  void stop_listening(bool keep_unix = false);
  // The end: every client and server closed, timers and signals stopped; the loop then exits.
  void finish_shutdown();
  // finish_shutdown on the next loop turn.
  void request_finish();
  bool drop_privileges();

  // admin::Controls
  admin::Snapshot snapshot() override;
  admin::Outcome pause(const admin::Database& database) override;
  admin::Outcome resume(const admin::Database& database) override;
  admin::Outcome suspend() override;
  admin::Outcome set_enabled(const std::string& database, bool enabled) override;
  admin::Outcome kill(const admin::Database& database) override;
  admin::Outcome kill_client(std::uint64_t id) override;
  admin::Outcome reconnect(const admin::Database& database) override;
  admin::Outcome wait_close(const admin::Database& database) override;
  admin::Outcome reload() override;
  admin::Outcome shutdown(admin::ShutdownMode mode) override;
  admin::Outcome set(const std::string& key, const std::string& value) override;

 private:
  // An error Outcome if `database` names no configured database.
  std::optional<admin::Outcome> unknown(const admin::Database& database) const;
};

}  // namespace pooler::app
