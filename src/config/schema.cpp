// The [pooler] settings table: every PgBouncer key with its type, default, reload class and
// limits. Parsing, SHOW CONFIG and reload planning all read this one list.
#include "pooler/config/schema.hpp"

#include <array>
#include <charconv>
#include <limits>

#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr Reload kLive = Reload::kLive;
constexpr Reload kRestart = Reload::kRestart;

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

SettingRow integer(std::string_view key, int Settings::*field, std::string_view default_text,
                   Reload reload, std::int64_t min, std::int64_t max = kIntMax) {
  return SettingRow{key, ValueType::kInt, default_text, reload, field, min, max, {}, false};
}

SettingRow integer64(std::string_view key, std::int64_t Settings::*field,
                     std::string_view default_text, Reload reload, std::int64_t min,
                     std::int64_t max) {
  return SettingRow{key, ValueType::kInt, default_text, reload, field, min, max, {}, false};
}

SettingRow file_mode(std::string_view key, int Settings::*field, std::string_view default_text,
                     Reload reload) {
  return SettingRow{key, ValueType::kInt, default_text, reload, field, 0, 07777, {}, true};
}

SettingRow seconds(std::string_view key, double Settings::*field, std::string_view default_text,
                   Reload reload = kLive) {
  return SettingRow{key, ValueType::kSeconds, default_text, reload, field, 0, 0, {}, false};
}

SettingRow boolean(std::string_view key, bool Settings::*field, std::string_view default_text,
                   Reload reload = kLive) {
  return SettingRow{key, ValueType::kBool, default_text, reload, field, 0, 0, {}, false};
}

SettingRow text(std::string_view key, std::string Settings::*field,
                std::string_view default_text = "", Reload reload = kLive) {
  SettingRow row{key, ValueType::kString, default_text, reload, field, 0, 0, {}, false};
  row.free_text = true;
  return row;
}

// A string that is one word or a list of words (an address, a user, a cipher list): unlike
// text(), an inline comment after it is stripped.
SettingRow token(std::string_view key, std::string Settings::*field,
                 std::string_view default_text = "", Reload reload = kLive) {
  return SettingRow{key, ValueType::kString, default_text, reload, field, 0, 0, {}, false};
}

SettingRow list(std::string_view key, std::vector<std::string> Settings::*field,
                std::string_view default_text = "", Reload reload = kLive) {
  return SettingRow{key, ValueType::kList, default_text, reload, field, 0, 0, {}, false};
}

SettingRow choice(std::string_view key, std::string Settings::*field, std::string_view default_text,
                  std::vector<std::string_view> choices) {
  return SettingRow{key, ValueType::kEnum,   default_text, kLive, field, 0,
                    0,   std::move(choices), false};
}

SettingRow with_parser(SettingRow row, util::Result<std::string> (*parse)(std::string_view)) {
  row.parse_text = parse;
  return row;
}

template <typename Enum>
SettingRow enumeration(std::string_view key, Enum Settings::*field, std::string_view default_text) {
  return SettingRow{key, ValueType::kEnum, default_text, kLive, field, 0, 0, {}, false};
}

const std::vector<std::string_view> kSslModes = {"disable", "allow",     "prefer",
                                                 "require", "verify-ca", "verify-full"};

std::vector<SettingRow> build_rows() {
  using S = Settings;
  return {
      // Generic
      text("logfile", &S::logfile),
      text("pidfile", &S::pidfile, "", kRestart),
      token("listen_addr", &S::listen_addr, "", kRestart),
      integer("listen_port", &S::listen_port, "6432", kRestart, 1, 65535),
      text("unix_socket_dir", &S::unix_socket_dir, "/tmp", kRestart),
      file_mode("unix_socket_mode", &S::unix_socket_mode, "0777", kRestart),
      token("unix_socket_group", &S::unix_socket_group, "", kRestart),
      token("user", &S::user, "", kRestart),
      enumeration("pool_mode", &S::pool_mode, "session"),
      integer("max_client_conn", &S::max_client_conn, "100", kLive, 1),
      integer("default_pool_size", &S::default_pool_size, "20", kLive, 0),
      integer("min_pool_size", &S::min_pool_size, "0", kLive, 0),
      integer("reserve_pool_size", &S::reserve_pool_size, "0", kLive, 0),
      seconds("reserve_pool_timeout", &S::reserve_pool_timeout, "5"),
      integer("max_db_connections", &S::max_db_connections, "0", kLive, 0),
      integer("max_db_client_connections", &S::max_db_client_connections, "0", kLive, 0),
      integer("max_user_connections", &S::max_user_connections, "0", kLive, 0),
      integer("max_user_client_connections", &S::max_user_client_connections, "0", kLive, 0),
      boolean("server_round_robin", &S::server_round_robin, "0"),
      list("track_extra_parameters", &S::track_extra_parameters, "IntervalStyle", kRestart),
      list("ignore_startup_parameters", &S::ignore_startup_parameters),
      integer("peer_id", &S::peer_id, "0", kLive, 0, 16383),
      boolean("disable_pqexec", &S::disable_pqexec, "0", kRestart),
      boolean("application_name_add_host", &S::application_name_add_host, "0"),
      token("service_name", &S::service_name, "pgbouncer", kRestart),
      token("job_name", &S::service_name, "pgbouncer", kRestart),
      integer("stats_period", &S::stats_period, "60", kLive, 1),
      integer("max_prepared_statements", &S::max_prepared_statements, "200", kLive, 0),
      integer("scram_iterations", &S::scram_iterations, "4096", kLive, 1),

      // Auth
      enumeration("auth_type", &S::auth_type, "md5"),
      text("auth_hba_file", &S::auth_hba_file),
      text("auth_ident_file", &S::auth_ident_file),
      text("auth_file", &S::auth_file),
      text("auth_user", &S::auth_user),
      text("auth_query", &S::auth_query,
           "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
           "FROM pg_authid WHERE rolname=$1 AND rolcanlogin"),
      text("auth_dbname", &S::auth_dbname),
      // pooler's own: how long an auth_query answer serves later logins (0: never cached), and
      // how many answers are kept.
      seconds("auth_query_cache_ttl", &S::auth_query_cache_ttl, "60"),
      integer("auth_query_cache_size", &S::auth_query_cache_size, "10000", kLive, 0),
      text("auth_ldap_options", &S::auth_ldap_options),

      // Log
      boolean("syslog", &S::syslog, "0"),
      token("syslog_ident", &S::syslog_ident, "pgbouncer"),
      with_parser(choice("syslog_facility", &S::syslog_facility, "daemon", syslog_facilities()),
                  &parse_syslog_facility),
      boolean("log_connections", &S::log_connections, "1"),
      boolean("log_disconnections", &S::log_disconnections, "1"),
      boolean("log_pooler_errors", &S::log_pooler_errors, "1"),
      boolean("log_stats", &S::log_stats, "1"),
      integer("verbose", &S::verbose, "0", kLive, 0),

      // Console access
      list("admin_users", &S::admin_users),
      list("stats_users", &S::stats_users),

      // Sanity checks and timeouts
      text("server_reset_query", &S::server_reset_query, "DISCARD ALL"),
      boolean("server_reset_query_always", &S::server_reset_query_always, "0"),
      seconds("server_check_delay", &S::server_check_delay, "30"),
      text("server_check_query", &S::server_check_query),
      boolean("server_fast_close", &S::server_fast_close, "0"),
      boolean("drain_on_sigterm", &S::drain_on_sigterm, "0"),
      boolean("config_watch", &S::config_watch, "0"),
      seconds("server_lifetime", &S::server_lifetime, "3600"),
      seconds("server_idle_timeout", &S::server_idle_timeout, "600"),
      seconds("server_connect_timeout", &S::server_connect_timeout, "15"),
      seconds("server_login_retry", &S::server_login_retry, "15"),
      seconds("client_login_timeout", &S::client_login_timeout, "60"),
      seconds("autodb_idle_timeout", &S::autodb_idle_timeout, "3600"),
      seconds("pool_idle_timeout", &S::pool_idle_timeout, "0"),
      seconds("dns_max_ttl", &S::dns_max_ttl, "15"),
      seconds("dns_nxdomain_ttl", &S::dns_nxdomain_ttl, "15"),
      seconds("dns_zone_check_period", &S::dns_zone_check_period, "0"),
      text("resolv_conf", &S::resolv_conf, "", kRestart),
      seconds("query_wait_notify", &S::query_wait_notify, "5"),
      text("login_notify_message", &S::login_notify_message),

      // TLS
      choice("client_tls_sslmode", &S::client_tls_sslmode, "disable", kSslModes),
      text("client_tls_key_file", &S::client_tls_key_file),
      text("client_tls_cert_file", &S::client_tls_cert_file),
      text("client_tls_ca_file", &S::client_tls_ca_file),
      token("client_tls_protocols", &S::client_tls_protocols, "secure"),
      token("client_tls_ciphers", &S::client_tls_ciphers, "default"),
      token("client_tls13_ciphers", &S::client_tls13_ciphers),
      token("client_tls_ecdhcurve", &S::client_tls_ecdhcurve, "auto"),
      token("client_tls_dheparams", &S::client_tls_dheparams, "auto"),
      choice("server_tls_sslmode", &S::server_tls_sslmode, "prefer", kSslModes),
      text("server_tls_ca_file", &S::server_tls_ca_file),
      text("server_tls_key_file", &S::server_tls_key_file),
      text("server_tls_cert_file", &S::server_tls_cert_file),
      token("server_tls_protocols", &S::server_tls_protocols, "secure"),
      token("server_tls_ciphers", &S::server_tls_ciphers, "default"),
      token("server_tls13_ciphers", &S::server_tls13_ciphers),

      // "Dangerous" timeouts
      seconds("query_timeout", &S::query_timeout, "0"),
      seconds("query_wait_timeout", &S::query_wait_timeout, "120"),
      seconds("cancel_wait_timeout", &S::cancel_wait_timeout, "10"),
      seconds("client_idle_timeout", &S::client_idle_timeout, "0"),
      seconds("idle_transaction_timeout", &S::idle_transaction_timeout, "0"),
      seconds("transaction_timeout", &S::transaction_timeout, "0"),
      seconds("suspend_timeout", &S::suspend_timeout, "10"),

      // Low-level network
      integer("pkt_buf", &S::pkt_buf, "4096", kRestart, 512),
      integer64("max_packet_size", &S::max_packet_size, "2147483647", kLive, 1024, 2147483647),
      integer("listen_backlog", &S::listen_backlog, "128", kRestart, 1),
      integer("sbuf_loopcnt", &S::sbuf_loopcnt, "5", kLive, 0),
      boolean("so_reuseport", &S::so_reuseport, "0", kRestart),
      boolean("tcp_defer_accept", &S::tcp_defer_accept, "1"),
      integer("tcp_socket_buffer", &S::tcp_socket_buffer, "0", kLive, 0),
      boolean("tcp_keepalive", &S::tcp_keepalive, "1"),
      integer("tcp_keepcnt", &S::tcp_keepcnt, "0", kLive, 0),
      integer("tcp_keepidle", &S::tcp_keepidle, "0", kLive, 0),
      integer("tcp_keepintvl", &S::tcp_keepintvl, "0", kLive, 0),
      integer("tcp_user_timeout", &S::tcp_user_timeout, "0", kLive, 0),

      // pooler's own
      token("metrics_addr", &S::metrics_addr, "127.0.0.1", kRestart),
      integer("metrics_port", &S::metrics_port, "0", kRestart, 0, 65535),
      seconds("alert_interval", &S::alert_interval, "1"),
      seconds("alert_resend_interval", &S::alert_resend_interval, "60"),
      text("alert_webhook_url", &S::alert_webhook_url),
      choice("saturation_action", &S::saturation_action, "none", {"none", "reject_new"}),
      integer("max_wait_queue", &S::max_wait_queue, "0", kLive, 0),
  };
}

// Stores a parsed value, or hands back the parser's complaint.
template <typename Field, typename Value>
std::optional<std::string> store(Settings& settings, Field field, util::Result<Value> parsed) {
  if (!parsed) {
    return parsed.error();
  }
  settings.*field = std::move(*parsed);
  return std::nullopt;
}

}  // namespace

const char* to_string(ValueType type) {
  switch (type) {
    case ValueType::kInt:
      return "int";
    case ValueType::kSeconds:
      return "seconds";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kList:
      return "list";
    case ValueType::kEnum:
      return "enum";
  }
  return "string";
}

std::span<const SettingRow> setting_rows() {
  static const std::vector<SettingRow> rows = build_rows();
  return rows;
}

const SettingRow* find_setting(std::string_view key) {
  for (const SettingRow& row : setting_rows()) {
    if (iequals(row.key, key)) {
      return &row;
    }
  }
  return nullptr;
}

std::optional<std::string> apply_setting(const SettingRow& row, Settings& settings,
                                         std::string_view text) {
  return std::visit(
      Overloaded{
          [&](int Settings::*field) -> std::optional<std::string> {
            auto parsed = row.file_mode ? parse_file_mode(text) : parse_int(text, row.min, row.max);
            if (!parsed) {
              return parsed.error();
            }
            settings.*field = static_cast<int>(*parsed);
            return std::nullopt;
          },
          [&](std::int64_t Settings::*field) {
            return store(settings, field, parse_int(text, row.min, row.max));
          },
          [&](double Settings::*field) { return store(settings, field, parse_seconds(text)); },
          [&](bool Settings::*field) { return store(settings, field, parse_bool(text)); },
          [&](std::string Settings::*field) {
            if (row.parse_text != nullptr) {
              return store(settings, field, row.parse_text(text));
            }
            if (row.choices.empty()) {
              return store(settings, field, util::Result<std::string>(std::string(text)));
            }
            return store(settings, field, parse_choice(text, row.choices));
          },
          [&](std::vector<std::string> Settings::*field) {
            return store(settings, field, util::Result(parse_list(text)));
          },
          [&](PoolMode Settings::*field) { return store(settings, field, parse_pool_mode(text)); },
          [&](AuthType Settings::*field) { return store(settings, field, parse_auth_type(text)); },
      },
      row.field);
}

std::string render_setting(const SettingRow& row, const Settings& settings) {
  return std::visit(
      Overloaded{
          [&](int Settings::*field) {
            if (!row.file_mode) {
              return std::to_string(settings.*field);
            }
            std::array<char, 16> octal{};
            auto end = std::to_chars(octal.data(), octal.data() + octal.size(), settings.*field, 8);
            return std::string("0").append(octal.data(), end.ptr);
          },
          [&](std::int64_t Settings::*field) { return std::to_string(settings.*field); },
          [&](double Settings::*field) { return render_seconds(settings.*field); },
          [&](bool Settings::*field) { return std::string(settings.*field ? "1" : "0"); },
          [&](std::string Settings::*field) { return settings.*field; },
          [&](std::vector<std::string> Settings::*field) { return render_list(settings.*field); },
          [&](PoolMode Settings::*field) { return std::string(to_string(settings.*field)); },
          [&](AuthType Settings::*field) { return std::string(to_string(settings.*field)); },
      },
      row.field);
}

std::optional<std::string> render_setting(const Settings& settings, std::string_view key) {
  const SettingRow* row = find_setting(key);
  if (row == nullptr) {
    return std::nullopt;
  }
  return render_setting(*row, settings);
}

}  // namespace pooler::config
