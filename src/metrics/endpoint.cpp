// The HTTP endpoint over civetweb (the server prometheus-cpp's own exposer uses). Handlers run on
// civetweb's worker threads and read the latest published Sample under a mutex held only to copy
// a shared_ptr.
#include "pooler/metrics/endpoint.hpp"

#include <civetweb.h>
#include <libpq-fe.h>

#include "pooler/metrics/exposition.hpp"

namespace pooler::metrics {

namespace {

using SteadyClock = std::chrono::steady_clock;

// The loop publishes every janitor tick; this much silence means it is stuck.
constexpr std::chrono::seconds kHeartbeatLimit{10};
// A reachability answer is reused this long, so probes do not hammer PostgreSQL.
constexpr std::chrono::seconds kProbeReuse{5};

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

int respond(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  const char* text = status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, text, content_type, body.size());
  mg_write(conn, body.data(), body.size());
  return status;
}

}  // namespace

Endpoint::~Endpoint() { stop(); }

std::string Endpoint::start(const std::string& addr, int port) {
  if (addr.find(':') != std::string::npos && mg_check_feature(8) == 0) {
    return "metrics_addr " + addr + ": this civetweb was built without IPv6; use an IPv4 " +
           "address or *";
  }
  // civetweb's syntax: "9127" for every address, "[::1]:9127" for an IPv6 one.
  std::string host = addr == "*"                           ? std::string()
                     : addr.find(':') != std::string::npos ? "[" + addr + "]:"
                                                           : addr + ":";
  std::string listen = host + std::to_string(port);
  const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "2",
                           "request_timeout_ms", "10000", nullptr};
  mg_callbacks callbacks{};
  mg_init_library(0);
  context_ = mg_start(&callbacks, this, options);
  if (context_ == nullptr) {
    mg_exit_library();
    return "cannot listen for metrics on " + listen;
  }
  heartbeat_ms_ = steady_ms();
  mg_set_request_handler(context_, "/metrics$", &Endpoint::serve_metrics, this);
  mg_set_request_handler(context_, "/healthz$", &Endpoint::serve_healthz, this);
  mg_set_request_handler(context_, "/readyz$", &Endpoint::serve_readyz, this);
  return {};
}

void Endpoint::stop() {
  if (context_ == nullptr) return;
  mg_stop(context_);
  mg_exit_library();
  context_ = nullptr;
}

void Endpoint::publish(std::shared_ptr<const Sample> sample) {
  {
    std::lock_guard lock(mutex_);
    sample_ = std::move(sample);
  }
  heartbeat_ms_ = steady_ms();
}

std::shared_ptr<const Sample> Endpoint::latest() const {
  std::lock_guard lock(mutex_);
  return sample_;
}

bool Endpoint::any_database_reachable(const Sample& sample) {
  std::lock_guard lock(probe_mutex_);
  auto now = SteadyClock::now();
  if (probed_at_ != SteadyClock::time_point{} && now - probed_at_ < kProbeReuse) {
    return reachable_;
  }
  reachable_ = false;
  for (const std::string& conninfo : sample.readiness.probe_conninfos) {
    // PQping needs no password: it only asks whether the server accepts connections.
    if (PQping(conninfo.c_str()) == PQPING_OK) {
      reachable_ = true;
      break;
    }
  }
  probed_at_ = SteadyClock::now();
  return reachable_;
}

std::string Endpoint::not_ready_reason(const Sample& sample) {
  if (!sample.readiness.not_ready.empty()) return sample.readiness.not_ready;
  if (sample.readiness.server_logged_in || any_database_reachable(sample)) return {};
  return "no configured database has logged in since start or answers a ping";
}

int Endpoint::serve_metrics(mg_connection* conn, void* self) {
  auto* endpoint = static_cast<Endpoint*>(self);
  auto sample = endpoint->latest();
  if (!sample) return respond(conn, 503, "text/plain", "no sample yet\n");
  bool ready = endpoint->not_ready_reason(*sample).empty();
  return respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                 render_text(*sample, ready));
}

int Endpoint::serve_healthz(mg_connection* conn, void* self) {
  auto* endpoint = static_cast<Endpoint*>(self);
  auto silent = std::chrono::milliseconds(steady_ms() - endpoint->heartbeat_ms_.load());
  if (silent > kHeartbeatLimit) {
    return respond(conn, 503, "text/plain",
                   "event loop silent for " + std::to_string(silent.count()) + " ms\n");
  }
  return respond(conn, 200, "text/plain", "ok\n");
}

int Endpoint::serve_readyz(mg_connection* conn, void* self) {
  auto* endpoint = static_cast<Endpoint*>(self);
  auto sample = endpoint->latest();
  if (!sample) return respond(conn, 503, "text/plain", "not ready: starting\n");
  std::string reason = endpoint->not_ready_reason(*sample);
  if (!reason.empty()) return respond(conn, 503, "text/plain", "not ready: " + reason + "\n");
  return respond(conn, 200, "text/plain", "ready\n");
}

}  // namespace pooler::metrics
