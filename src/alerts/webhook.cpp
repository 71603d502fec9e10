// The webhook sender: JSON formatting, and HTTP POSTs through civetweb's client on a worker thread.
#include "pooler/alerts/webhook.hpp"

#include <civetweb.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>

namespace pooler::alerts {

namespace {

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string rfc3339(WallTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string subject(const Alert& a) {
  return a.database.empty() ? std::string("the pooler") : "pool " + a.database + "/" + a.user;
}

}  // namespace

std::string alertmanager_json(const std::vector<Alert>& alerts, const std::string& instance) {
  std::string out = "[";
  for (const Alert& a : alerts) {
    if (out.size() > 1) out += ",";
    std::string summary = a.name + (a.firing ? " firing for " : " resolved for ") + subject(a);
    std::string description = a.name + " value " + format_value(a.value) + " against threshold " +
                              format_value(a.threshold);
    out += "{\"labels\":{\"alertname\":" + json_string(a.name) +
           ",\"database\":" + json_string(a.database) + ",\"user\":" + json_string(a.user) +
           ",\"severity\":" + json_string(a.severity) + ",\"instance\":" + json_string(instance) +
           "},\"annotations\":{\"summary\":" + json_string(summary) +
           ",\"description\":" + json_string(description) +
           ",\"state\":" + json_string(a.firing ? "firing" : "resolved") +
           "},\"startsAt\":" + json_string(rfc3339(a.starts_at));
    if (!a.firing) out += ",\"endsAt\":" + json_string(rfc3339(a.ends_at));
    out += "}";
  }
  return out + "]";
}

std::optional<HttpTarget> parse_http_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return std::nullopt;
  std::string rest = url.substr(kScheme.size());
  HttpTarget target;
  std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) target.path = rest.substr(slash);
  std::size_t colon = authority.rfind(':');
  target.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    std::string port = authority.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), target.port);
    if (ec != std::errc() || end != port.data() + port.size() || target.port <= 0 ||
        target.port > 65535) {
      return std::nullopt;
    }
  }
  if (target.host.empty()) return std::nullopt;
  return target;
}

Webhook::Webhook(HttpTarget target, std::string instance)
    : target_(std::move(target)), instance_(std::move(instance)) {
  mg_init_library(0);
  thread_ = std::thread([this] { run(); });
}

Webhook::~Webhook() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  mg_exit_library();
}

void Webhook::send(const std::vector<Alert>& alerts) {
  if (alerts.empty()) return;
  std::string body = alertmanager_json(alerts, instance_);
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kQueueLimit) {
      spdlog::warn("alert webhook: {} batches queued; dropping the oldest", queue_.size());
      queue_.pop_front();
    }
    queue_.push_back(std::move(body));
  }
  wake_.notify_one();
}

void Webhook::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    bool sent = false;
    for (int attempt = 1; attempt <= kAttempts && !sent; ++attempt) {
      sent = post(body);
      if (!sent && attempt < kAttempts) {
        // 1 s, then 2 s; a stop request cuts the pause short.
        std::unique_lock pause(mutex_);
        if (wake_.wait_for(pause, std::chrono::seconds(attempt), [this] { return stopping_; })) {
          return;
        }
      }
    }
    if (!sent) spdlog::warn("alert webhook: gave up after {} attempts", kAttempts);
    lock.lock();
  }
}

bool Webhook::post(const std::string& body) {
  char error[256] = {};
  mg_connection* conn =
      mg_connect_client(target_.host.c_str(), target_.port, 0, error, sizeof error);
  if (conn == nullptr) {
    spdlog::warn("alert webhook: cannot connect to {}:{}: {}", target_.host, target_.port, error);
    return false;
  }
  mg_printf(conn,
            "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            target_.path.c_str(), target_.host.c_str(), target_.port, body.size());
  mg_write(conn, body.data(), body.size());
  int rc = mg_get_response(conn, error, sizeof error, 5000);
  const mg_response_info* info = rc >= 0 ? mg_get_response_info(conn) : nullptr;
  int status = info != nullptr ? info->status_code : 0;
  mg_close_connection(conn);
  if (status < 200 || status >= 300) {
    spdlog::warn("alert webhook: POST {} answered {} {}", target_.path, status, error);
    return false;
  }
  return true;
}

}  // namespace pooler::alerts
