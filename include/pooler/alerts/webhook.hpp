// Webhook: posts alerts as the JSON array Alertmanager's /api/v2/alerts takes, from a thread of
// its own, so a slow or dead receiver never stalls the data path. The queue is bounded (the oldest
// batch is dropped when full) and each batch is retried a few times with a growing pause.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pooler/alerts/engine.hpp"

namespace pooler::alerts {

// Alertmanager's JSON for `alerts`: labels (alertname, database, user, severity, instance),
// annotations (summary, description, state), startsAt, and endsAt once resolved.
std::string alertmanager_json(const std::vector<Alert>& alerts, const std::string& instance);

struct HttpTarget {
  std::string host;
  int port = 80;
  std::string path = "/";
};
// http://host[:port][/path]; nullopt for anything else.
std::optional<HttpTarget> parse_http_url(const std::string& url);

class Webhook {
 public:
  static constexpr std::size_t kQueueLimit = 64;
  static constexpr int kAttempts = 3;

  Webhook(HttpTarget target, std::string instance);
  ~Webhook();
  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;

  // Queues one POST of `alerts`; never blocks on the network.
  void send(const std::vector<Alert>& alerts);

 private:
  void run();
  bool post(const std::string& body);

  HttpTarget target_;
  std::string instance_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pooler::alerts
