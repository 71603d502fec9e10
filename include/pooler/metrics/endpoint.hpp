// Endpoint: the HTTP server for /metrics, /healthz and /readyz, on civetweb's own threads. The
// loop publishes a Sample and beats a heartbeat; the threads read only those, so a slow scrape
// never touches the data path.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "pooler/metrics/sample.hpp"

struct mg_context;
struct mg_connection;

namespace pooler::metrics {

class Endpoint {
 public:
  Endpoint() = default;
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // Listens on addr:port; an error message if it cannot.
  std::string start(const std::string& addr, int port);
  void stop();

  // From the loop, once per janitor tick.
  void publish(std::shared_ptr<const Sample> sample);

 private:
  static int serve_metrics(mg_connection* conn, void* self);
  static int serve_healthz(mg_connection* conn, void* self);
  static int serve_readyz(mg_connection* conn, void* self);

  std::shared_ptr<const Sample> latest() const;
  // Why the pooler is not ready, or empty when it is.
  std::string not_ready_reason(const Sample& sample);
  // Whether some configured database answers a libpq ping; cached for a few seconds.
  bool any_database_reachable(const Sample& sample);

  mg_context* context_ = nullptr;
  mutable std::mutex mutex_;
  std::shared_ptr<const Sample> sample_;
  std::atomic<std::int64_t> heartbeat_ms_{0};  // steady clock, of the last publish
  std::mutex probe_mutex_;
  std::chrono::steady_clock::time_point probed_at_{};
  bool reachable_ = false;
};

}  // namespace pooler::metrics
