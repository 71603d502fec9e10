// The composition root: builds every long-lived object, listens, and runs the loop.
#include "pooler/app/app.hpp"

#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "app_state.hpp"
#include "pooler/pool/server_target.hpp"
#include "pooler/protocol/sqlstate.hpp"

#ifdef POOLER_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace pooler::app {

namespace ss = protocol::sqlstate;

namespace {

// The janitor's period: the resolution of every timeout.
constexpr std::chrono::milliseconds kJanitorInterval{100};

// Each client and server needs a descriptor: take the hard limit, and say so if even that is
// short of max_client_conn (PgBouncer warns the same way).
void raise_fd_limit(const config::Settings& settings) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  auto needed = static_cast<rlim_t>(settings.max_client_conn) + 100;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    spdlog::warn("file descriptor limit {} is below max_client_conn + servers ({}); raise LimitNOFILE",
                 limit.rlim_cur, needed);
  }
}

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> addrs;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    std::string addr =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    addr.erase(0, addr.find_first_not_of(" \t"));
    addr.erase(addr.find_last_not_of(" \t") + 1);
    if (!addr.empty()) addrs.push_back(addr);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return addrs;
}

}  // namespace

void notify_service(const char* state) {
#ifdef POOLER_HAVE_SYSTEMD
  sd_notify(0, state);
#else
  (void)state;
#endif
}

App::State::State(std::shared_ptr<const config::Config> c, RunOptions o)
    : options(std::move(o)), config(std::move(c)) {
  apply_dns_settings();
  // A name that no longer resolves to an address: its servers there move at their release.
  dns.set_on_dropped([this](const std::string& host, const std::vector<std::string>& dropped) {
    pools.retire_addresses(host, dropped);
  });
}

void App::State::apply_dns_settings() {
  const auto& s = config->settings;
  dns.set_ttls(util::seconds_to_duration(s.dns_max_ttl),
               util::seconds_to_duration(s.dns_nxdomain_ttl));
}

std::optional<std::string> App::State::apply_tls_settings() {
  auto error = tls.apply(config->settings);
  clients.set_client_tls(tls.client());
  pools.set_server_tls(tls.server());
  return error;
}

bool App::State::listen() {
  const auto& s = config->settings;
  auto on_accept = [this](std::unique_ptr<net::Stream> stream) {
    if (phase == Phase::kStopped) return;
    if (stream->kind() == net::Stream::Kind::kTcp) {
      net::tune_tcp(reinterpret_cast<uv_tcp_t*>(stream->raw()),
                    pool::tcp_options(config->settings));
    }
    frontend::ClientConnection& client = clients.accept(std::move(stream));
    // Taken from the backlog while draining: served through one transaction, then told.
    if (phase == Phase::kWaitForClients) {
      client.finish_at_boundary(ss::kAdminShutdown, "pooler is shutting down");
    }
  };
  // A successor started with -R joins its predecessor's port; so_reuseport lets several
  // processes share the TCP port on purpose (each with a unix_socket_dir of its own).
  auto tcp_sharing = options.reboot || s.so_reuseport ? net::PortSharing::kShare
                                                      : net::PortSharing::kExclusive;
  auto unix_sharing = options.reboot ? net::PortSharing::kShare : net::PortSharing::kExclusive;
  for (const auto& addr : split_addresses(s.listen_addr)) {
    auto listener = net::Listener::listen_tcp(loop, addr, s.listen_port, s.listen_backlog,
                                              tcp_sharing, on_accept);
    if (!listener) {
      spdlog::critical("{}", listener.error());
      return false;
    }
    spdlog::info("listening on {}", (*listener)->description());
    listeners.push_back(std::move(*listener));
  }
  if (!s.unix_socket_dir.empty()) {
    auto listener =
        net::Listener::listen_unix(loop, s.unix_socket_dir, s.listen_port, s.unix_socket_mode,
                                   s.listen_backlog, unix_sharing, on_accept);
    if (!listener) {
      spdlog::critical("{}", listener.error());
      return false;
    }
    spdlog::info("listening on {}", (*listener)->description());
    listeners.push_back(std::move(*listener));
  }
  return true;
}

void App::State::take_over() {
  if (!options.reboot) return;
  if (options.predecessor_pid == 0) {
    spdlog::warn("-R: no running pooler found through the pidfile; starting normally");
    return;
  }
  // Its SIGTERM: it stops accepting, clients finish their transaction, it exits once drained.
  if (::kill(options.predecessor_pid, SIGTERM) != 0) {
    spdlog::error("-R: cannot signal the old process (pid {}): {}", options.predecessor_pid,
                  std::strerror(errno));
    return;
  }
  spdlog::info("-R: listening beside the old process (pid {}); it stops accepting and drains",
               options.predecessor_pid);
}

// PgBouncer 1.23's signals, logged in PgBouncer's words.
void App::State::on_signal(int signum) {
  bool shutting_down = phase != Phase::kRunning;
  switch (signum) {
    case SIGHUP:
      spdlog::info("got SIGHUP, re-reading config");
      reload_config();
      return;
    case SIGUSR1:
      if (pools.paused_all() || loop.suspension().held()) {
        spdlog::info("got SIGUSR1, but already paused/suspended");
        return;
      }
      spdlog::info("got SIGUSR1, pausing all activity");
      pause(std::nullopt);
      return;
    case SIGUSR2:
      // A shutdown's pause, and a pause from before it, stay: only the shutdown ends them.
      if (shutting_down) {
        spdlog::info("got SIGUSR2 while shutting down, ignoring");
      } else if (loop.suspension().held()) {
        spdlog::info("got SIGUSR2, continuing from SUSPEND");
        resume(std::nullopt);
      } else if (pools.any_paused()) {
        spdlog::info("got SIGUSR2, continuing from PAUSE");
        resume(std::nullopt);
      } else {
        spdlog::info("got SIGUSR2, but not paused/suspended");
      }
      return;
    case SIGTERM:
    case SIGINT: {
      const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
      if (shutting_down) {
        spdlog::info("got {} while shutting down, fast exit", name);
        begin_shutdown(admin::ShutdownMode::kImmediate);
        return;
      }
      if (loop.suspension().held()) {
        // Suspended sockets are not read: nobody could finish, so nothing is waited for.
        spdlog::info("got {}; suspend was in progress, going down immediately", name);
        begin_shutdown(admin::ShutdownMode::kImmediate);
        return;
      }
      if (signum == SIGINT) {
        spdlog::info("got SIGINT, shutting down, waiting for all servers connections to be "
                     "released");
        begin_shutdown(admin::ShutdownMode::kWaitForServers);
      } else if (config->settings.drain_on_sigterm) {
        spdlog::info("got SIGTERM, shutting down, draining clients at their transaction boundary");
        begin_shutdown(admin::ShutdownMode::kDrain);
      } else {
        spdlog::info("got SIGTERM, shutting down, waiting for all clients disconnect");
        begin_shutdown(admin::ShutdownMode::kWaitForClients);
      }
      return;
    }
    default:  // SIGQUIT
      spdlog::info("got SIGQUIT, fast exit");
      begin_shutdown(admin::ShutdownMode::kImmediate);
      return;
  }
}

void App::State::on_janitor() {
  if (phase == Phase::kRunning) pools.open_min_pools(*config);
  pools.tick();
  clients.tick();
  roll_stats_when_due();
  observe_when_due();
  bool drained = (phase == Phase::kWaitForClients && clients.data_clients() == 0) ||
                 (phase == Phase::kWaitForServers && pools.pause_complete(std::nullopt));
  if (drained) {
    spdlog::info("shutdown: nothing left to wait for");
    request_finish();
  }
}

void App::State::roll_stats_when_due() {
  const auto& settings = config->settings;
  util::Duration elapsed = clock.now() - stats_period_start;
  if (settings.stats_period <= 0 || elapsed < std::chrono::seconds(settings.stats_period)) return;
  stats_period_start = clock.now();
  pools.roll_stats(util::duration_to_seconds(elapsed), settings.log_stats);
}

bool App::State::drop_privileges() {
  if (options.drop_to_user.empty()) return true;
  passwd* pw = getpwnam(options.drop_to_user.c_str());
  if (pw == nullptr) {
    spdlog::critical("unknown user: {}", options.drop_to_user);
    return false;
  }
  if (setgid(pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
      setuid(pw->pw_uid) != 0) {
    spdlog::critical("cannot switch to user {}", options.drop_to_user);
    return false;
  }
  return true;
}

App::App(std::shared_ptr<const config::Config> config, RunOptions options)
    : state_(std::make_unique<State>(std::move(config), std::move(options))) {}

App::~App() = default;

int App::run() {
  State& s = *state_;
  raise_fd_limit(s.config->settings);
  s.clients.set_console(s.console);
  if (auto error = s.apply_tls_settings()) {
    spdlog::critical("{}", *error);
    return 1;
  }
  // Metrics first: once the client port accepts, /metrics and the probes answer too.
  if (!s.start_metrics()) return 1;
  if (!s.listen()) return 1;
  s.publish_first_sample();
  s.take_over();
  if (!s.drop_privileges()) return 1;
  s.apply_config_watch();
  s.janitor = std::make_unique<net::Timer>(s.loop, [&s] { s.on_janitor(); });
  s.janitor->start(kJanitorInterval);
  for (int signum : {SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2}) {
    auto* sig = new uv_signal_t;
    uv_signal_init(s.loop.raw(), sig);
    sig->data = &s;
    uv_signal_start(
        sig, [](uv_signal_t* h, int n) { static_cast<State*>(h->data)->on_signal(n); }, signum);
    s.signals.push_back(sig);
  }
  signal(SIGPIPE, SIG_IGN);
  notify_service("READY=1");
  spdlog::info("process up: pooler {}", "ready");
  s.loop.run();
  spdlog::info("shutdown complete");
  return 0;
}

std::optional<std::string> check_tls(const config::Settings& settings) {
  TlsSetup tls;
  return tls.apply(settings);
}

util::LogOptions log_options_for(const config::Settings& settings,
                                 const util::LogOptions& command_line) {
  util::LogOptions options = command_line;
  options.logfile = settings.logfile;
  options.verbose = command_line.verbose + settings.verbose;
  options.syslog = settings.syslog;
  options.syslog_ident = settings.syslog_ident;
  options.syslog_facility = settings.syslog_facility;
  return options;
}

}  // namespace pooler::app
