// Config: the whole configuration as a plain value. Parsing builds one; reload builds a new one
// and swaps it in whole, so nothing ever sees a half-applied configuration.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pooler/config/alert_rules.hpp"

namespace pooler::config {

struct HbaRules;   // hba.hpp
struct IdentMaps;  // ident_map.hpp

enum class PoolMode { kSession, kTransaction, kStatement };
enum class AuthType { kTrust, kPlain, kMd5, kScramSha256, kAny, kHba, kCert };

const char* to_string(PoolMode mode);
const char* to_string(AuthType type);

// The [pooler] (alias [pgbouncer]) section. Names, meanings and defaults are PgBouncer's.
// Durations are seconds as doubles, as PgBouncer accepts fractions.
struct Settings {
  // Generic
  std::string logfile;
  std::string pidfile;
  std::string listen_addr;  // empty: unix socket only; "*" means all addresses
  int listen_port = 6432;
  std::string unix_socket_dir = "/tmp";  // empty: no unix socket
  int unix_socket_mode = 0777;
  std::string unix_socket_group;
  std::string user;
  PoolMode pool_mode = PoolMode::kSession;
  int max_client_conn = 100;
  int default_pool_size = 20;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  double reserve_pool_timeout = 5;
  int max_db_connections = 0;  // 0: unlimited
  int max_db_client_connections = 0;
  int max_user_connections = 0;
  int max_user_client_connections = 0;
  bool server_round_robin = false;
  std::vector<std::string> track_extra_parameters = {"IntervalStyle"};
  std::vector<std::string> ignore_startup_parameters;
  bool disable_pqexec = false;
  bool application_name_add_host = false;
  int stats_period = 60;
  int max_prepared_statements = 200;
  int scram_iterations = 4096;
  int peer_id = 0;                         // 0: no peering
  std::string service_name = "pgbouncer";  // alias job_name

  // Auth
  AuthType auth_type = AuthType::kMd5;
  std::string auth_file;
  std::string auth_hba_file;
  std::string auth_ident_file;
  std::string auth_user;
  std::string auth_query =
      "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
      "FROM pg_authid WHERE rolname=$1 AND rolcanlogin";
  std::string auth_dbname;
  double auth_query_cache_ttl = 60;      // pooler's own: seconds an answer serves later logins
  int auth_query_cache_size = 10000;     // pooler's own: answers kept at most
  std::string auth_ldap_options;

  // Log
  bool syslog = false;
  std::string syslog_ident = "pgbouncer";
  std::string syslog_facility = "daemon";
  bool log_connections = true;
  bool log_disconnections = true;
  bool log_pooler_errors = true;
  bool log_stats = true;
  int verbose = 0;

  // Console access
  std::vector<std::string> admin_users;
  std::vector<std::string> stats_users;

  // Sanity checks and timeouts
  std::string server_reset_query = "DISCARD ALL";
  bool server_reset_query_always = false;
  double server_check_delay = 30;
  std::string server_check_query;  // empty: the empty query, as PgBouncer
  bool server_fast_close = false;
  // pooler's own: SIGTERM drains (each client told at its next transaction boundary) instead
  // of PgBouncer's waiting for clients to leave. For rolling restarts behind a load balancer.
  bool drain_on_sigterm = false;
  // pooler's own: reload when the ini, auth_file, hba, ident or TLS files change on disk.
  bool config_watch = false;
  double server_lifetime = 3600;
  double server_idle_timeout = 600;
  double server_connect_timeout = 15;
  double server_login_retry = 15;
  double client_login_timeout = 60;
  double autodb_idle_timeout = 3600;
  double pool_idle_timeout = 0;
  double dns_max_ttl = 15;
  double dns_nxdomain_ttl = 15;
  double dns_zone_check_period = 0;
  std::string resolv_conf;
  double query_wait_notify = 5;
  std::string login_notify_message;

  // TLS (parsed and validated; the data path answers 'N' to SSLRequest until TLS lands)
  std::string client_tls_sslmode = "disable";
  std::string client_tls_key_file;
  std::string client_tls_cert_file;
  std::string client_tls_ca_file;
  std::string client_tls_protocols = "secure";
  std::string client_tls_ciphers = "default";
  std::string client_tls13_ciphers;
  std::string client_tls_ecdhcurve = "auto";
  std::string client_tls_dheparams = "auto";
  std::string server_tls_sslmode = "prefer";
  std::string server_tls_ca_file;
  std::string server_tls_key_file;
  std::string server_tls_cert_file;
  std::string server_tls_protocols = "secure";
  std::string server_tls_ciphers = "default";
  std::string server_tls13_ciphers;

  // "Dangerous" timeouts
  double query_timeout = 0;
  double query_wait_timeout = 120;
  double cancel_wait_timeout = 10;
  double client_idle_timeout = 0;
  double idle_transaction_timeout = 0;
  double transaction_timeout = 0;
  double suspend_timeout = 10;

  // Low-level network
  int pkt_buf = 4096;
  std::int64_t max_packet_size = 2147483647;
  int listen_backlog = 128;
  int sbuf_loopcnt = 5;
  bool so_reuseport = false;
  bool tcp_defer_accept = true;
  int tcp_socket_buffer = 0;
  bool tcp_keepalive = true;
  int tcp_keepcnt = 0;
  int tcp_keepidle = 0;
  int tcp_keepintvl = 0;
  int tcp_user_timeout = 0;

  // pooler's own: metrics endpoint (issue 5); 0 turns it off.
  std::string metrics_addr = "127.0.0.1";
  int metrics_port = 0;
  // pooler's own: saturation alerts (issue 5). The rules themselves are in [alerts].
  double alert_interval = 1;          // seconds between evaluations
  double alert_resend_interval = 60;  // firing alerts are re-sent to the webhook this often
  std::string alert_webhook_url;      // http://host:port/path (an Alertmanager's /api/v2/alerts)
  std::string saturation_action = "none";  // none | reject_new
  int max_wait_queue = 0;  // reject_new refuses logins while more clients than this wait
};

// One server of a [databases] entry: a host name, an IP address or a unix socket directory
// ("/path"; empty: the default one), and the port there.
struct HostPort {
  std::string host;
  int port = 5432;
  bool operator==(const HostPort&) const = default;
};

// One [databases] entry: `name = host=... port=... dbname=... ...`.
struct DatabaseEntry {
  std::string name;  // "*" for the fallback entry
  // As written: one host, or a comma-separated list that new server connections go over
  // (load_balance_hosts). Each is a name, an address, "/path" (a unix socket directory) or empty
  // (the default socket directory).
  std::string host;
  std::vector<int> ports = {5432};  // one port for every host, or one per host in host's order
  std::string dbname;  // empty: same as name
  std::string user;    // forced user: all clients share one pool as this user
  std::string password;
  std::string auth_user;
  std::string auth_query;
  std::string auth_dbname;
  std::optional<int> pool_size;
  std::optional<int> min_pool_size;
  std::optional<int> reserve_pool_size;
  std::optional<PoolMode> pool_mode;
  std::optional<int> max_db_connections;
  std::optional<int> max_db_client_connections;
  std::optional<double> server_lifetime;
  std::optional<double> query_wait_timeout;
  std::string connect_query;
  std::string client_encoding;
  std::string datestyle;
  std::string timezone;
  std::string application_name;
  std::string load_balance_hosts = "round-robin";  // or "disable"; matters when host is a list
  int line = 0;                                    // where it was defined, for diagnostics
  bool operator==(const DatabaseEntry&) const = default;

  // Each host with its port, in the order written; never empty.
  std::vector<HostPort> servers() const;
  // host is a list: PgBouncer shows load_balance_hosts only then.
  bool has_host_list() const { return host.find(',') != std::string::npos; }
};

// One [users] entry: `name = pool_mode=... max_user_connections=...`.
struct UserEntry {
  std::string name;
  std::optional<int> pool_size;
  std::optional<int> reserve_pool_size;
  std::optional<PoolMode> pool_mode;
  std::optional<int> max_user_connections;
  std::optional<int> max_user_client_connections;
  std::optional<double> query_timeout;
  std::optional<double> query_wait_timeout;
  std::optional<double> idle_transaction_timeout;
  std::optional<double> transaction_timeout;
  std::optional<double> client_idle_timeout;
  int line = 0;
  bool operator==(const UserEntry&) const = default;
};

// One [peers] entry: `peer_id = host=... port=... pool_size=...`, another pooler (or PgBouncer)
// that cancel requests carrying its peer id are forwarded to.
struct PeerEntry {
  std::string name;  // the peer id as written
  int id = 0;
  std::string host;  // a name, an address, or "/path" (a unix socket directory)
  int port = 6432;
  std::optional<int> pool_size;  // cancels in flight to it at once; default_pool_size if unset
  int line = 0;
  bool operator==(const PeerEntry&) const = default;
};

// One auth_file line: `"user" "secret"`; the secret is plain text, "md5<32 hex>" or a
// "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" verifier.
struct UserSecret {
  std::string user;
  std::string secret;
  bool operator==(const UserSecret&) const = default;
};

struct Config {
  std::string path;  // the file it came from, for diagnostics and reload
  std::vector<std::string> included_files;  // what its %include lines named, in order
  Settings settings;
  std::map<std::string, DatabaseEntry> databases;  // by name; "*" is the fallback
  std::map<std::string, UserEntry> users;
  std::map<int, PeerEntry> peers;  // by peer id
  std::map<std::string, UserSecret> auth_users;  // loaded from settings.auth_file
  // auth_type = hba: the rules of settings.auth_hba_file and the maps of auth_ident_file (no
  // entries when it is not set); null for other auth types. Shared, so a Config copies cheaply.
  std::shared_ptr<const HbaRules> hba;
  std::shared_ptr<const IdentMaps> ident_maps;
  std::vector<AlertRuleSettings> alerts = default_alert_rules();  // [alerts]

  // The entry a client's database name resolves to: itself, else the "*" fallback with dbname
  // set to the requested name, else nullopt.
  std::optional<DatabaseEntry> find_database(const std::string& name) const;
  const UserEntry* find_user(const std::string& name) const;
  const UserSecret* find_secret(const std::string& user) const;
};

}  // namespace pooler::config
