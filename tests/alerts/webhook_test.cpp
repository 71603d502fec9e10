// The webhook's message shape (Alertmanager's /api/v2/alerts) and its URL parsing.
#include "pooler/alerts/webhook.hpp"

#include <doctest/doctest.h>

using pooler::alerts::Alert;

TEST_CASE("alerts become Alertmanager's JSON: labels, annotations, startsAt, endsAt once resolved") {
  Alert firing;
  firing.name = "PoolSaturated";
  firing.database = "app";
  firing.user = "a\"pi";
  firing.severity = "warning";
  firing.value = 0.93;
  firing.threshold = 0.8;
  firing.firing = true;
  firing.starts_at = std::chrono::system_clock::from_time_t(1700000000);
  Alert resolved = firing;
  resolved.firing = false;
  resolved.ends_at = std::chrono::system_clock::from_time_t(1700000060);
  std::string json = pooler::alerts::alertmanager_json({firing, resolved}, "db1:6432");
  CHECK(json.front() == '[');
  CHECK(json.back() == ']');
  CHECK(json.find(R"("labels":{"alertname":"PoolSaturated","database":"app","user":"a\"pi",)"
                  R"("severity":"warning","instance":"db1:6432"})") != std::string::npos);
  CHECK(json.find(R"("state":"firing")") != std::string::npos);
  CHECK(json.find(R"("state":"resolved")") != std::string::npos);
  CHECK(json.find(R"("startsAt":"2023-11-14T22:13:20Z")") != std::string::npos);
  CHECK(json.find(R"("endsAt":"2023-11-14T22:14:20Z")") != std::string::npos);
  // Only the resolved message carries endsAt.
  CHECK(json.find("endsAt") == json.rfind("endsAt"));
  CHECK(json.find("0.93") != std::string::npos);
}

TEST_CASE("the webhook URL is plain http with an optional port and path") {
  auto t = pooler::alerts::parse_http_url("http://alertmanager:9093/api/v2/alerts");
  REQUIRE(t);
  CHECK(t->host == "alertmanager");
  CHECK(t->port == 9093);
  CHECK(t->path == "/api/v2/alerts");
  auto bare = pooler::alerts::parse_http_url("http://10.0.0.1");
  REQUIRE(bare);
  CHECK(bare->port == 80);
  CHECK(bare->path == "/");
  CHECK_FALSE(pooler::alerts::parse_http_url("https://am:9093/"));
  CHECK_FALSE(pooler::alerts::parse_http_url("http://:9093/"));
  CHECK_FALSE(pooler::alerts::parse_http_url("http://am:99999/"));
  CHECK_FALSE(pooler::alerts::parse_http_url("http://am:9x/"));
}
