// The exposition: names, labels and histogram buckets as Prometheus expects them.
#include "pooler/metrics/exposition.hpp"

#include <doctest/doctest.h>

namespace {

using pooler::metrics::Sample;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

Sample one_pool() {
  Sample s;
  s.version = "1.2.3";
  pooler::metrics::PoolSample p;
  p.database = "app";
  p.user = "api";
  p.pool_mode = "transaction";
  p.pool_size = 4;
  p.server_active = 3;
  p.client_waiting = 2;
  p.stats.xact_count = 7;
  p.stats.wait_histogram.observe_us(50);       // <= 100 us
  p.stats.wait_histogram.observe_us(2000000);  // <= 2.5 s
  p.stats.wait_histogram.observe_us(90000000);  // above 60 s
  s.pools.push_back(p);
  s.events.count(pooler::metrics::Refusal::kMaxClientConn);
  s.events.count_error("53300");
  s.alerts.push_back({"PoolSaturated", "app", "api", "warning", true});
  return s;
}

}  // namespace

TEST_CASE("per-pool series carry database, user and pool_mode") {
  std::string text = pooler::metrics::render_text(one_pool(), true);
  const std::string labels = R"({database="app",user="api",pool_mode="transaction"})";
  CHECK(has_line(text, "pooler_pool_utilization" + labels + " 0.75"));
  CHECK(has_line(text, "pooler_pool_client_waiting" + labels + " 2"));
  CHECK(has_line(text, "pooler_pool_transactions_total" + labels + " 7"));
  CHECK(text.find("# TYPE pooler_pool_transactions_total counter") != std::string::npos);
}

TEST_CASE("histograms are cumulative from 100 us to 60 s, then +Inf") {
  std::string text = pooler::metrics::render_text(one_pool(), true);
  const std::string l = R"(database="app",user="api",pool_mode="transaction")";
  CHECK(has_line(text, "pooler_client_wait_seconds_bucket{" + l + R"(,le="0.0001"} 1)"));
  CHECK(has_line(text, "pooler_client_wait_seconds_bucket{" + l + R"(,le="1"} 1)"));
  CHECK(has_line(text, "pooler_client_wait_seconds_bucket{" + l + R"(,le="2.5"} 2)"));
  CHECK(has_line(text, "pooler_client_wait_seconds_bucket{" + l + R"(,le="60"} 2)"));
  CHECK(has_line(text, "pooler_client_wait_seconds_bucket{" + l + R"(,le="+Inf"} 3)"));
  CHECK(has_line(text, "pooler_client_wait_seconds_count{" + l + "} 3"));
  CHECK(text.find("# TYPE pooler_query_duration_seconds histogram") != std::string::npos);
}

TEST_CASE("process-wide counters by reason, readiness and alerts") {
  std::string text = pooler::metrics::render_text(one_pool(), false);
  CHECK(has_line(text, R"(pooler_client_connections_refused_total{reason="max_client_conn"} 1)"));
  CHECK(has_line(text, R"(pooler_client_connections_refused_total{reason="saturated"} 0)"));
  CHECK(has_line(text, R"(pooler_client_errors_total{class="53"} 1)"));
  CHECK(has_line(text, "pooler_ready 0"));
  CHECK(has_line(text, R"(pooler_build_info{version="1.2.3"} 1)"));
  CHECK(has_line(text, R"(pooler_alert_firing{alert="PoolSaturated",database="app",user="api",)"
                       R"(severity="warning"} 1)"));
}
