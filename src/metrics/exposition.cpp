// The metric families: per pool gauges, counters and histograms first, then the process-wide
// counters by reason, the process and the alerts.
#include "pooler/metrics/exposition.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <limits>

namespace pooler::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr double kMicros = 1e6;

double seconds(std::uint64_t us) { return static_cast<double>(us) / kMicros; }

struct PoolFamily {
  const char* name;
  const char* help;
  MetricType type;
  std::function<double(const PoolSample&)> value;
};

const std::vector<PoolFamily>& pool_families() {
  using T = MetricType;
  static const std::vector<PoolFamily> kFamilies = {
      {"pooler_pool_client_active", "Clients holding a server.", T::Gauge,
       [](const PoolSample& p) { return p.client_active; }},
      {"pooler_pool_client_waiting", "Clients waiting for a server.", T::Gauge,
       [](const PoolSample& p) { return p.client_waiting; }},
      {"pooler_pool_client_idle", "Clients logged in, holding no server and not waiting.",
       T::Gauge, [](const PoolSample& p) { return p.client_idle; }},
      {"pooler_pool_server_active", "Servers leased to a client.", T::Gauge,
       [](const PoolSample& p) { return p.server_active; }},
      {"pooler_pool_server_idle", "Servers idle and ready for use.", T::Gauge,
       [](const PoolSample& p) { return p.server_idle; }},
      {"pooler_pool_server_used", "Servers running the pooler's reset or check query.", T::Gauge,
       [](const PoolSample& p) { return p.server_used; }},
      {"pooler_pool_server_login", "Servers connecting or logging in.", T::Gauge,
       [](const PoolSample& p) { return p.server_login; }},
      {"pooler_pool_size", "The pool's server limit (pool_size, without the reserve).", T::Gauge,
       [](const PoolSample& p) { return p.pool_size; }},
      {"pooler_pool_utilization", "Active servers over the pool's limit, 0 to 1.", T::Gauge,
       [](const PoolSample& p) { return p.utilization(); }},
      {"pooler_pool_maxwait_seconds", "How long the longest-waiting client has waited.",
       T::Gauge, [](const PoolSample& p) { return p.maxwait_seconds; }},
      {"pooler_pool_transactions_total", "Transactions, autocommit statements included.",
       T::Counter, [](const PoolSample& p) { return p.stats.xact_count; }},
      {"pooler_pool_queries_total", "Requests answered by a ReadyForQuery.", T::Counter,
       [](const PoolSample& p) { return p.stats.query_count; }},
      {"pooler_pool_received_bytes_total", "Bytes received from clients.", T::Counter,
       [](const PoolSample& p) { return p.stats.bytes_received; }},
      {"pooler_pool_sent_bytes_total", "Bytes sent to clients.", T::Counter,
       [](const PoolSample& p) { return p.stats.bytes_sent; }},
      {"pooler_pool_transaction_seconds_total", "Time spent in transactions.", T::Counter,
       [](const PoolSample& p) { return seconds(p.stats.xact_time_us); }},
      {"pooler_pool_query_seconds_total", "Time spent in queries.", T::Counter,
       [](const PoolSample& p) { return seconds(p.stats.query_time_us); }},
      {"pooler_pool_wait_seconds_total", "Time clients spent waiting for a server.", T::Counter,
       [](const PoolSample& p) { return seconds(p.stats.wait_time_us); }},
      {"pooler_pool_server_assignments_total", "Times a server was leased to a client.",
       T::Counter, [](const PoolSample& p) { return p.stats.server_assignment_count; }},
      {"pooler_pool_client_logins_total", "Client logins to the pool.", T::Counter,
       [](const PoolSample& p) { return p.stats.client_login_count; }},
      {"pooler_pool_server_logins_total", "Server connections that logged in to PostgreSQL.",
       T::Counter, [](const PoolSample& p) { return p.stats.server_login_count; }},
      {"pooler_pool_server_login_failures_total",
       "Server logins that failed (unreachable, refused, or timed out).", T::Counter,
       [](const PoolSample& p) { return p.stats.server_login_failures; }},
      {"pooler_pool_client_parses_total",
       "Named Parse messages from clients (prepared statements tracked).", T::Counter,
       [](const PoolSample& p) { return p.stats.client_parse_count; }},
      {"pooler_pool_server_parses_total",
       "Parse messages the pooler sent to PostgreSQL for tracked statements.", T::Counter,
       [](const PoolSample& p) { return p.stats.server_parse_count; }},
      {"pooler_pool_binds_total", "Bind messages from clients.", T::Counter,
       [](const PoolSample& p) { return p.stats.bind_count; }},
      {"pooler_pool_query_wait_timeouts_total",
       "Clients refused because no server came within query_wait_timeout.", T::Counter,
       [](const PoolSample& p) { return p.stats.query_wait_timeouts; }},
  };
  return kFamilies;
}

struct HistogramFamily {
  const char* name;
  const char* help;
  LatencyHistogram PoolStats::*histogram;
};

constexpr HistogramFamily kHistograms[] = {
    {"pooler_client_wait_seconds", "Time a client waited for a server, per server assignment.",
     &PoolStats::wait_histogram},
    {"pooler_query_duration_seconds", "Query duration, request to ReadyForQuery.",
     &PoolStats::query_histogram},
    {"pooler_transaction_duration_seconds", "Transaction duration, first request to idle.",
     &PoolStats::xact_histogram},
};

Labels pool_labels(const PoolSample& p) {
  Labels labels{{"database", p.database}, {"user", p.user}, {"pool_mode", p.pool_mode}};
  // The look-up pool has the database and user of the auth user's own pool, if there is one.
  if (p.auth_lookup) labels.push_back({"pool", "auth_query"});
  return labels;
}

ClientMetric metric(Labels labels, MetricType type, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

ClientMetric histogram_metric(Labels labels, const LatencyHistogram& h) {
  ClientMetric m;
  m.label = std::move(labels);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    cumulative += h.bucket(i);
    double bound = i < LatencyHistogram::kBoundsUs.size()
                       ? seconds(LatencyHistogram::kBoundsUs[i])
                       : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = seconds(h.sum_us());
  return m;
}

MetricFamily single(const char* name, const char* help, MetricType type, double value,
                    Labels labels = {}) {
  return {name, help, type, {metric(std::move(labels), type, value)}};
}

// A counter family with one series per reason.
template <typename Enum>
MetricFamily by_reason(const char* name, const char* help, const char* label_name,
                       const CountsBy<Enum>& counts) {
  MetricFamily family{name, help, MetricType::Counter, {}};
  for (std::size_t i = 0; i < counts.size(); ++i) {
    family.metric.push_back(metric({{label_name, std::string(label(static_cast<Enum>(i)))}},
                                   MetricType::Counter, static_cast<double>(counts[i])));
  }
  return family;
}

}  // namespace

std::string render_text(const Sample& sample, bool ready) {
  std::vector<MetricFamily> families;
  for (const PoolFamily& f : pool_families()) {
    MetricFamily family{f.name, f.help, f.type, {}};
    for (const PoolSample& p : sample.pools) {
      family.metric.push_back(metric(pool_labels(p), f.type, f.value(p)));
    }
    families.push_back(std::move(family));
  }
  for (const HistogramFamily& f : kHistograms) {
    MetricFamily family{f.name, f.help, MetricType::Histogram, {}};
    for (const PoolSample& p : sample.pools) {
      family.metric.push_back(histogram_metric(pool_labels(p), p.stats.*f.histogram));
    }
    families.push_back(std::move(family));
  }

  const Events& e = sample.events;
  using T = MetricType;
  families.push_back(single("pooler_client_connections_accepted_total",
                            "Client logins accepted (data and console).", T::Counter,
                            static_cast<double>(e.clients_accepted)));
  families.push_back(by_reason<Refusal>("pooler_client_connections_refused_total",
                                        "Client logins refused, by reason.", "reason",
                                        e.refused));
  families.push_back(by_reason<Timeout>("pooler_timeouts_total", "Timeouts enforced, by kind.",
                                        "timeout", e.timeouts));
  families.push_back(by_reason<ServerClose>("pooler_server_connections_closed_total",
                                            "Server connections closed, by cause.", "cause",
                                            e.server_closes));
  MetricFamily cancels{"pooler_cancel_requests_total", "Cancel requests, by result.", T::Counter,
                       {}};
  cancels.metric.push_back(metric({{"result", "forwarded"}}, T::Counter,
                                  static_cast<double>(e.cancels_forwarded)));
  cancels.metric.push_back(metric({{"result", "unmatched"}}, T::Counter,
                                  static_cast<double>(e.cancels_unmatched)));
  cancels.metric.push_back(metric({{"result", "not_running"}}, T::Counter,
                                  static_cast<double>(e.cancels_idle)));
  families.push_back(std::move(cancels));
  MetricFamily to_peers{"pooler_peer_cancels_forwarded_total",
                        "Cancel requests passed on to the peer whose id their key carries.",
                        T::Counter, {}};
  for (const auto& [peer_id, count] : e.peer_cancels_forwarded) {
    to_peers.metric.push_back(
        metric({{"peer_id", std::to_string(peer_id)}}, T::Counter, static_cast<double>(count)));
  }
  families.push_back(std::move(to_peers));
  families.push_back(single("pooler_peer_cancels_received_total",
                            "Cancel requests for this process's clients that came through a "
                            "peer.",
                            T::Counter, static_cast<double>(e.peer_cancels_received)));
  families.push_back(single("pooler_peer_cancels_dropped_total",
                            "Cancel requests for another peer that were dropped: no such peer, "
                            "no hop left, or too many on their way to it.",
                            T::Counter, static_cast<double>(e.peer_cancels_dropped)));
  families.push_back(single("pooler_abandoned_requests_cancelled_total",
                            "Requests still running when their client disconnected, cancelled "
                            "on PostgreSQL by the pooler, which kept the server.",
                            T::Counter, static_cast<double>(e.requests_abandoned)));
  MetricFamily errors{"pooler_client_errors_total",
                      "ErrorResponses the pooler sent to clients, by SQLSTATE class.", T::Counter,
                      {}};
  for (const auto& [sqlclass, count] : e.client_errors) {
    errors.metric.push_back(
        metric({{"class", sqlclass}}, T::Counter, static_cast<double>(count)));
  }
  families.push_back(std::move(errors));
  MetricFamily lookups{"pooler_auth_query_lookups_total",
                       "auth_query look-ups run for logins, by result (found: a secret; "
                       "missing: no row or a NULL secret; failed: the look-up failed).",
                       T::Counter, {}};
  for (auto [result, count] : {std::pair{"found", e.auth_lookups_found},
                               std::pair{"missing", e.auth_lookups_missing},
                               std::pair{"failed", e.auth_lookups_failed}}) {
    lookups.metric.push_back(metric({{"result", result}}, T::Counter, static_cast<double>(count)));
  }
  families.push_back(std::move(lookups));
  families.push_back(single("pooler_auth_query_cache_hits_total",
                            "Logins whose secret came from the auth_query cache (no look-up).",
                            T::Counter, static_cast<double>(e.auth_cache_hits)));
  MetricFamily reloads{"pooler_config_reloads_total", "Configuration reloads, by result.",
                       T::Counter, {}};
  reloads.metric.push_back(
      metric({{"result", "success"}}, T::Counter, static_cast<double>(e.reloads_ok)));
  reloads.metric.push_back(
      metric({{"result", "failure"}}, T::Counter, static_cast<double>(e.reloads_failed)));
  families.push_back(std::move(reloads));
  MetricFamily handshakes{"pooler_tls_handshakes_total", "TLS handshakes, by side and result.",
                          T::Counter, {}};
  MetricFamily tls_open{"pooler_tls_connections", "TLS connections open, by side.", T::Gauge, {}};
  MetricFamily handshake_time{"pooler_tls_handshake_seconds",
                              "TLS handshake duration (successful and failed), by side.",
                              T::Histogram, {}};
  for (TlsSide side : {TlsSide::kClient, TlsSide::kServer}) {
    const TlsEvents& t = e.tls[static_cast<std::size_t>(side)];
    std::string name = side == TlsSide::kClient ? "client" : "server";
    handshakes.metric.push_back(metric({{"side", name}, {"result", "ok"}}, T::Counter,
                                       static_cast<double>(t.handshakes_ok)));
    handshakes.metric.push_back(metric({{"side", name}, {"result", "failed"}}, T::Counter,
                                       static_cast<double>(t.handshakes_failed)));
    tls_open.metric.push_back(metric({{"side", name}}, T::Gauge, static_cast<double>(t.open)));
    handshake_time.metric.push_back(histogram_metric({{"side", name}}, t.handshake));
  }
  families.push_back(std::move(handshakes));
  families.push_back(std::move(tls_open));
  families.push_back(std::move(handshake_time));

  const ProcessSample& proc = sample.process;
  families.push_back(single("pooler_open_fds", "Open file descriptors.", T::Gauge,
                            proc.open_fds));
  families.push_back(single("pooler_max_fds", "The file descriptor limit (RLIMIT_NOFILE).",
                            T::Gauge, static_cast<double>(proc.max_fds)));
  families.push_back(single("pooler_clients", "Client connections, logged in or not.", T::Gauge,
                            proc.clients));
  families.push_back(single("pooler_max_client_conn", "The max_client_conn setting.", T::Gauge,
                            proc.max_client_conn));
  families.push_back(single("pooler_uptime_seconds", "Seconds since the pooler started.",
                            T::Gauge, proc.uptime_seconds));
  families.push_back(single("pooler_start_time_seconds", "Start time, Unix seconds.", T::Gauge,
                            proc.start_time_seconds));
  families.push_back(single("pooler_build_info", "The running build; always 1.", T::Gauge, 1,
                            {{"version", sample.version}}));
  families.push_back(single("pooler_ready", "1 when /readyz answers ready.", T::Gauge,
                            ready ? 1 : 0));
  families.push_back(single("pooler_paused", "1 while PAUSE (of every database) is in force.",
                            T::Gauge, sample.paused ? 1 : 0));
  MetricFamily alerts{"pooler_alert_firing",
                      "1 while the pooler's own alert fires; 0 once it has resolved.", T::Gauge,
                      {}};
  for (const AlertSample& a : sample.alerts) {
    alerts.metric.push_back(metric({{"alert", a.alert},
                                    {"database", a.database},
                                    {"user", a.user},
                                    {"severity", a.severity}},
                                   T::Gauge, a.firing ? 1 : 0));
  }
  families.push_back(std::move(alerts));
  return prometheus::TextSerializer{}.Serialize(families);
}

}  // namespace pooler::metrics
