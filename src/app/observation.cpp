// Observation, once per alert_interval: a metrics Sample of the live state, the alert engine's
// step over it, its sinks (log, webhook, saturation_action) and the publication to the metrics
// endpoint's threads.
#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "app_state.hpp"

namespace pooler::app {

namespace {

int count_open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n - 3;  // ".", ".." and the directory's own descriptor
}

long fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<long>(limit.rlim_cur);
}

// A libpq conninfo value, quoted.
std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string probe_conninfo(const config::DatabaseEntry& db) {
  // libpq takes host and port lists as pooler does, trying the hosts in turn.
  std::string ports;
  for (int port : db.ports) ports += (ports.empty() ? "" : ",") + std::to_string(port);
  // Plain text: whether the server answers is all that is asked, and a TLS handshake inside
  // civetweb's worker thread overflowed its stack.
  std::string info = "connect_timeout=2 sslmode=disable gssencmode=disable port=" + ports;
  if (!db.host.empty()) info += " host=" + quoted(db.host);
  info += " dbname=" + quoted(db.dbname.empty() ? db.name : db.dbname);
  return info;
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "pooler";
  return name;
}

}  // namespace

metrics::Sample App::State::take_sample() {
  metrics::Sample sample;
  sample.version = POOLER_VERSION;
  std::map<const pool::Pool*, metrics::PoolSample*> by_pool;
  sample.pools.reserve(64);
  pools.for_each([&](const pool::Pool& p) {
    metrics::PoolSample ps;
    ps.database = p.key().database;
    ps.user = p.key().user;
    ps.pool_mode = config::to_string(p.settings().mode);
    ps.auth_lookup = p.lookup_only();
    auto counts = p.counts();
    ps.server_active = counts.active;
    ps.server_idle = counts.idle;
    ps.server_used = counts.resetting;
    ps.server_login = counts.opening;
    ps.client_waiting = counts.waiting;
    ps.pool_size = p.settings().pool_size;
    ps.maxwait_seconds = util::duration_to_seconds(p.longest_wait());
    ps.stats = p.stats();
    if (ps.stats.server_login_count > 0) server_logged_in = true;
    sample.pools.push_back(std::move(ps));
  });
  std::size_t i = 0;
  pools.for_each([&](const pool::Pool& p) { by_pool[&p] = &sample.pools[i++]; });
  clients.for_each([&](const frontend::ClientConnection& c) {
    auto it = by_pool.find(c.pool());
    if (it == by_pool.end()) return;
    auto state = c.state();
    if (c.server() != nullptr) {
      ++it->second->client_active;
    } else if (state == frontend::ClientState::kIdle || state == frontend::ClientState::kActive) {
      ++it->second->client_idle;
    }
  });
  sample.events = pools.events();
  sample.events.tls = tls.counts();
  const auto& settings = config->settings;
  sample.process.open_fds = count_open_fds();
  sample.process.max_fds = fd_limit();
  sample.process.clients = static_cast<int>(clients.size());
  sample.process.max_client_conn = settings.max_client_conn;
  sample.process.start_time_seconds =
      std::chrono::duration<double>(started_wall.time_since_epoch()).count();
  sample.process.uptime_seconds = util::duration_to_seconds(clock.now() - started);
  sample.paused = pools.paused_all();
  auto& ready = sample.readiness;
  if (phase != Phase::kRunning) {
    ready.not_ready = "shutting down";
  } else if (listeners.empty()) {
    ready.not_ready = "not listening";
  } else if (loop.suspension().held()) {
    ready.not_ready = "suspended (SUSPEND)";
  } else if (pools.paused_all()) {
    ready.not_ready = "paused (PAUSE)";
  }
  ready.server_logged_in = server_logged_in;
  for (const auto& [name, db] : config->databases) {
    if (name != "*") ready.probe_conninfos.push_back(probe_conninfo(db));
  }
  return sample;
}

void App::State::observe_when_due() {
  auto now = clock.now();
  if (now < next_observation) return;
  if (metrics_retrying) start_metrics();
  next_observation = now + util::seconds_to_duration(std::max(0.1, config->settings.alert_interval));
  metrics::Sample sample = take_sample();
  auto wall = std::chrono::system_clock::now();
  std::vector<alerts::Alert> changes =
      alert_engine.evaluate(config->alerts, sample, now, wall);
  for (const alerts::Alert& a : changes) {
    auto level = a.firing ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level, "alert={} state={} database={} user={} severity={} value={:.3g} "
                       "threshold={:.3g}",
                a.name, a.firing ? "firing" : "resolved", a.database.empty() ? "-" : a.database,
                a.user.empty() ? "-" : a.user, a.severity, a.value, a.threshold);
  }
  apply_saturation_action();
  send_to_webhook(changes, now);
  for (const alerts::Alert& a : alert_engine.known()) {
    sample.alerts.push_back({a.name, a.database, a.user, a.severity, a.firing});
  }
  if (metrics_endpoint) metrics_endpoint->publish(std::make_shared<const metrics::Sample>(sample));
}

void App::State::apply_saturation_action() {
  const auto& settings = config->settings;
  std::set<std::pair<std::string, std::string>> saturated;
  if (settings.saturation_action == "reject_new") {
    for (const alerts::Alert& a : alert_engine.firing()) {
      if (a.name == "PoolSaturated") saturated.insert({a.database, a.user});
    }
  }
  pools.for_each_mutable([&](pool::Pool& p) {
    p.set_shedding(saturated.count({p.key().database, p.key().user}) > 0);
  });
}

void App::State::send_to_webhook(const std::vector<alerts::Alert>& changes, util::TimePoint now) {
  const std::string& url = config->settings.alert_webhook_url;
  if (url != webhook_url) {
    // Set, changed or cleared by a reload.
    webhook.reset();
    webhook_url = url;
    if (auto target = alerts::parse_http_url(url)) {
      webhook = std::make_unique<alerts::Webhook>(
          *target, hostname() + ":" + std::to_string(config->settings.listen_port));
    }
  }
  if (!webhook) return;
  webhook->send(changes);
  // Firing alerts are re-sent while they last, as Prometheus does, so Alertmanager keeps them.
  auto resend = util::seconds_to_duration(config->settings.alert_resend_interval);
  if (now - last_resend >= resend) {
    last_resend = now;
    // Those that fired on this very tick were just sent.
    std::vector<alerts::Alert> again;
    for (const alerts::Alert& a : alert_engine.firing()) {
      bool just_sent = std::any_of(changes.begin(), changes.end(), [&](const alerts::Alert& c) {
        return c.name == a.name && c.database == a.database && c.user == a.user;
      });
      if (!just_sent) again.push_back(a);
    }
    webhook->send(again);
  }
}

bool App::State::start_metrics() {
  const auto& s = config->settings;
  if (s.metrics_port == 0) return true;
  auto endpoint = std::make_unique<metrics::Endpoint>();
  if (std::string error = endpoint->start(s.metrics_addr, s.metrics_port); !error.empty()) {
    if (!options.reboot) {
      spdlog::critical("{}", error);
      return false;
    }
    // -R: the predecessor holds the port until it exits; try again on later janitor ticks.
    if (!metrics_retrying) spdlog::warn("{}; retrying until the old process lets go", error);
    metrics_retrying = true;
    return true;
  }
  metrics_retrying = false;
  metrics_endpoint = std::move(endpoint);
  spdlog::info("metrics on http://{}:{}/metrics", s.metrics_addr, s.metrics_port);
  // At start-up the listeners open right after this: publish_first_sample() follows them.
  if (!listeners.empty()) publish_first_sample();
  return true;
}

void App::State::publish_first_sample() {
  if (!metrics_endpoint) return;
  metrics_endpoint->publish(std::make_shared<const metrics::Sample>(take_sample()));
}

}  // namespace pooler::app
