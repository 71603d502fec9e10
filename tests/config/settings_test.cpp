// The [pooler] schema: defaults match PgBouncer, every row round-trips, values parse strictly.
#include <doctest/doctest.h>

#include <set>

#include "pooler/config/schema.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

TEST_CASE("defaults equal PgBouncer's") {
  const Settings defaults;
  CHECK(defaults.listen_port == 6432);
  CHECK(defaults.pool_mode == PoolMode::kSession);
  CHECK(defaults.max_client_conn == 100);
  CHECK(defaults.default_pool_size == 20);
  CHECK(defaults.auth_type == AuthType::kMd5);
  CHECK(defaults.server_reset_query == "DISCARD ALL");
  CHECK(defaults.server_lifetime == 3600);
  CHECK(defaults.server_idle_timeout == 600);
  CHECK(defaults.query_wait_timeout == 120);
  CHECK(defaults.pkt_buf == 4096);
  CHECK(defaults.max_packet_size == 2147483647);
  CHECK(defaults.unix_socket_dir == "/tmp");
  CHECK(defaults.track_extra_parameters == std::vector<std::string>{"IntervalStyle"});
  CHECK(render_setting(defaults, "unix_socket_mode") == "0777");
  CHECK(render_setting(defaults, "listen_backlog") == "128");
}

TEST_CASE("every row's default text is what a default Settings renders") {
  const Settings defaults;
  for (const SettingRow& row : setting_rows()) {
    CAPTURE(row.key);
    CHECK(render_setting(row, defaults) == row.default_text);
  }
}

TEST_CASE("every row reads back its own rendering") {
  for (const SettingRow& row : setting_rows()) {
    CAPTURE(row.key);
    Settings settings;
    CHECK_FALSE(apply_setting(row, settings, row.default_text).has_value());
    CHECK(render_setting(row, settings) == row.default_text);
  }
}

TEST_CASE("keys are unique and lower case") {
  std::set<std::string_view> keys;
  for (const SettingRow& row : setting_rows()) {
    CAPTURE(row.key);
    CHECK(keys.insert(row.key).second);
    CHECK(to_lower(row.key) == row.key);
  }
}

TEST_CASE("PgBouncer's not-reloadable keys are restart-only, the rest live") {
  for (std::string_view key :
       {"listen_addr", "listen_port", "unix_socket_dir", "unix_socket_mode", "pidfile", "user",
        "pkt_buf", "listen_backlog", "so_reuseport", "track_extra_parameters", "disable_pqexec"}) {
    CAPTURE(key);
    REQUIRE(find_setting(key) != nullptr);
    CHECK_FALSE(find_setting(key)->reloadable());
  }
  for (std::string_view key : {"pool_mode", "default_pool_size", "max_client_conn", "auth_type",
                               "auth_file", "query_wait_timeout", "server_reset_query"}) {
    CAPTURE(key);
    REQUIRE(find_setting(key) != nullptr);
    CHECK(find_setting(key)->reloadable());
  }
}

TEST_CASE("keys are found whatever their case") {
  REQUIRE(find_setting("Listen_Port") != nullptr);
  CHECK(find_setting("LISTEN_PORT")->key == "listen_port");
  CHECK(find_setting("no_such_key") == nullptr);
}

TEST_CASE("booleans accept PgBouncer's spellings in any case") {
  for (std::string_view word : {"1", "yes", "on", "true", "TRUE", "On"}) {
    CAPTURE(word);
    CHECK(*parse_bool(word) == true);
  }
  for (std::string_view word : {"0", "no", "off", "false", "No"}) {
    CAPTURE(word);
    CHECK(*parse_bool(word) == false);
  }
  CHECK_FALSE(parse_bool("maybe").ok());
  CHECK_FALSE(parse_bool("").ok());
}

TEST_CASE("durations are seconds with fractions, never negative or unbounded") {
  CHECK(*parse_seconds("2.5") == 2.5);
  CHECK(*parse_seconds("0") == 0);
  CHECK(*parse_seconds(" 15 ") == 15);
  CHECK(parse_seconds("-1").error().find("negative") != std::string::npos);
  CHECK_FALSE(parse_seconds("10s").ok());
  CHECK_FALSE(parse_seconds("nan").ok());
  CHECK_FALSE(parse_seconds("inf").ok());
  CHECK_FALSE(parse_seconds("1e300").ok());
  CHECK(render_seconds(0.25) == "0.25");
  CHECK(render_seconds(120) == "120");
}

TEST_CASE("integers are decimal, whole and within range") {
  CHECK(*parse_int("42", 0, 100) == 42);
  CHECK(parse_int("abc", 0, 100).error() == "expected an integer, got 'abc'");
  CHECK(parse_int("12x", 0, 100).error() == "expected an integer, got '12x'");
  CHECK(parse_int("101", 0, 100).error() == "must be between 0 and 100, got '101'");
  CHECK(parse_int("99999999999999999999", 0, 100).ok() == false);
  CHECK(parse_int("-1", 0, 2147483647).error() == "must be at least 0, got '-1'");
}

TEST_CASE("unix_socket_mode is an octal file mode") {
  Settings settings;
  const SettingRow& row = *find_setting("unix_socket_mode");
  CHECK_FALSE(apply_setting(row, settings, "0700").has_value());
  CHECK(settings.unix_socket_mode == 0700);
  CHECK(render_setting(row, settings) == "0700");
  CHECK(apply_setting(row, settings, "0789").has_value());
  CHECK(apply_setting(row, settings, "077777").has_value());
}

TEST_CASE("lists are comma separated with blanks trimmed and empty items dropped") {
  CHECK(parse_list(" alice , bob,,carol ") == std::vector<std::string>{"alice", "bob", "carol"});
  CHECK(parse_list("").empty());
  Settings settings;
  CHECK_FALSE(apply_setting(*find_setting("admin_users"), settings, "admin, ops").has_value());
  CHECK(render_setting(settings, "admin_users") == "admin,ops");
}

TEST_CASE("range limits: ports, sizes, buffers") {
  Settings settings;
  auto error = [&](std::string_view key, std::string_view text) {
    return apply_setting(*find_setting(key), settings, text);
  };
  CHECK(error("listen_port", "0").has_value());
  CHECK(error("listen_port", "65536").has_value());
  CHECK_FALSE(error("listen_port", "65535").has_value());
  CHECK_FALSE(error("metrics_port", "0").has_value());
  CHECK(error("max_client_conn", "0").has_value());
  CHECK(error("default_pool_size", "-1").has_value());
  CHECK_FALSE(error("default_pool_size", "0").has_value());
  CHECK(error("pkt_buf", "511").has_value());
  CHECK(error("max_packet_size", "1023").has_value());
  CHECK(error("listen_backlog", "0").has_value());
  CHECK(error("peer_id", "16384").has_value());
  CHECK(error("client_tls_sslmode", "sometimes").has_value());
  CHECK_FALSE(error("client_tls_sslmode", "verify-full").has_value());
  CHECK(settings.client_tls_sslmode == "verify-full");
}

TEST_CASE("auth_type: supported values parse, later ones are refused by name") {
  CHECK(*parse_auth_type("scram-sha-256") == AuthType::kScramSha256);
  CHECK(*parse_auth_type("any") == AuthType::kAny);
  CHECK(*parse_auth_type("trust") == AuthType::kTrust);
  CHECK(*parse_auth_type("plain") == AuthType::kPlain);
  CHECK(*parse_auth_type("cert") == AuthType::kCert);
  CHECK(*parse_auth_type("HBA") == AuthType::kHba);
  for (std::string_view later : {"ldap", "pam"}) {
    CAPTURE(later);
    CHECK(parse_auth_type(later).error().find("not supported yet") != std::string::npos);
  }
  CHECK(parse_auth_type("password").error().find("expected") != std::string::npos);
}

TEST_CASE("enums print PgBouncer's spellings") {
  CHECK(std::string(to_string(PoolMode::kSession)) == "session");
  CHECK(std::string(to_string(PoolMode::kTransaction)) == "transaction");
  CHECK(std::string(to_string(PoolMode::kStatement)) == "statement");
  CHECK(std::string(to_string(AuthType::kScramSha256)) == "scram-sha-256");
  CHECK(std::string(to_string(AuthType::kMd5)) == "md5");
  CHECK(std::string(to_string(AuthType::kHba)) == "hba");
}

}  // namespace
}  // namespace pooler::config
