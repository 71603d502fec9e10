// Comments after values, as configs copied from wikis carry them: stripped from typed values,
// kept (with a warning) in free text, and the syslog facility in syslog.conf's spelling.
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/config/schema.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

LoadResult parse_settings(const std::string& lines) {
  return parse_config_text("[pooler]\nauth_type = trust\n" + lines, "wiki.ini");
}

TEST_CASE("a wiki-style file with a comment after every typed value parses with no diagnostic") {
  LoadResult result = parse_settings(
      "pool_mode = transaction   ; transaction, session, or statement\n"
      "max_client_conn = 500 # raise with ulimit -n\n"
      "default_pool_size = 25\t; per database and user\n"
      "reserve_pool_timeout = 2.5 ; seconds\n"
      "server_round_robin = yes  # spread load\n"
      "server_tls_sslmode = allow ; no certificates yet\n"
      "admin_users = postgres, ops   ; may RELOAD\n"
      "ignore_startup_parameters = extra_float_digits # JDBC sends it\n"
      "listen_addr = *   ; every interface\n"
      "unix_socket_mode = 0700 ; owner only\n"
      "verbose = 1 #\n"
      "max_packet_size = 1048576 ;;\n");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  const Settings& s = result.config.settings;
  CHECK(s.pool_mode == PoolMode::kTransaction);
  CHECK(s.max_client_conn == 500);
  CHECK(s.default_pool_size == 25);
  CHECK(s.reserve_pool_timeout == 2.5);
  CHECK(s.server_round_robin);
  CHECK(s.server_tls_sslmode == "allow");
  CHECK(s.admin_users == std::vector<std::string>{"postgres", "ops"});
  CHECK(s.ignore_startup_parameters == std::vector<std::string>{"extra_float_digits"});
  CHECK(s.listen_addr == "*");
  CHECK(s.unix_socket_mode == 0700);
  CHECK(s.verbose == 1);
  CHECK(s.max_packet_size == 1048576);
}

TEST_CASE("every row that is not free text strips an inline comment") {
  // A value each row accepts; the comment after it must not reach the parser.
  for (const SettingRow& row : setting_rows()) {
    if (row.free_text) {
      continue;
    }
    CAPTURE(row.key);
    Settings plain;
    Settings commented;
    const std::string value(row.default_text.empty() ? "x" : row.default_text);
    REQUIRE_FALSE(apply_setting(row, plain, value).has_value());
    LoadResult result = parse_settings(std::string(row.key) + " = " + value + " ; why\n");
    INFO(render(result.diagnostics));
    for (const Diagnostic& d : result.diagnostics) {
      CHECK(d.key != row.key);
    }
    CHECK(render_setting(row, result.config.settings) == render_setting(row, plain));
  }
}

TEST_CASE("a ';' that does not follow a blank is part of a typed value, and then wrong") {
  Diagnostic d = only(parse_settings("listen_port = 6432;\n").diagnostics);
  CHECK(format(d) == "wiki.ini:3: error: listen_port: expected an integer, got '6432;'");
}

TEST_CASE("a typed value that is only a comment is an empty value") {
  Diagnostic d = only(parse_settings("default_pool_size = ; twenty\n").diagnostics);
  CHECK(format(d) ==
        "wiki.ini:3: error: default_pool_size: expected an integer, got an empty value");
}

TEST_CASE("free text keeps ';' and '#' as written, with a warning naming the key") {
  LoadResult result = parse_settings(
      "logfile = /var/log/pooler #1.log\n"
      "auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1 ; -- the default\n"
      "server_reset_query = DISCARD ALL; SET x = 1\n");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.ok());
  CHECK(format(result.diagnostics[0]) ==
        "wiki.ini:3: warning: logfile: '#' after a blank is kept as part of this text value, not "
        "taken as a comment; put a comment on a line of its own");
  CHECK(result.diagnostics[1].key == "auth_query");
  CHECK(result.diagnostics[1].line == 4);
  CHECK(result.config.settings.logfile == "/var/log/pooler #1.log");
  CHECK(result.config.settings.auth_query ==
        "SELECT usename, passwd FROM pg_shadow WHERE usename=$1 ; -- the default");
  CHECK(result.config.settings.server_reset_query == "DISCARD ALL; SET x = 1");
}

TEST_CASE("database and user entries end at a comment; quoted values keep theirs") {
  LoadResult result = parse_config_text(
      "[pooler]\nauth_type = trust\n"
      "[databases]\n"
      "app = host=10.0.0.5 pool_mode=transaction pool_size=30   ; the main app\n"
      "ro = host=10.0.0.6 password='se ;cret' dbname=x#y user=a;b # reporting\n"
      "bare = ; nothing but a comment\n"
      "[users]\n"
      "report = pool_mode=session max_user_connections=5 # analysts\n",
      "entries.ini");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  const DatabaseEntry& app = result.config.databases.at("app");
  CHECK(app.pool_mode == PoolMode::kTransaction);
  CHECK(app.pool_size == 30);
  const DatabaseEntry& ro = result.config.databases.at("ro");
  CHECK(ro.password == "se ;cret");
  CHECK(ro.dbname == "x#y");
  CHECK(ro.user == "a;b");
  CHECK(result.config.databases.at("bare").host.empty());
  const UserEntry& report = result.config.users.at("report");
  CHECK(report.pool_mode == PoolMode::kSession);
  CHECK(report.max_user_connections == 5);
}

TEST_CASE("an unquoted entry value ends at a blank, so ' ;' after it starts a comment") {
  LoadResult result = parse_config_text(
      "[pooler]\nauth_type = trust\n[databases]\napp = host=h password=se ;cret x=1\n",
      "entries.ini");
  // The pairs end at the comment; what is left is a well-formed entry.
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.databases.at("app").password == "se");
}

TEST_CASE("[alerts] values strip an inline comment") {
  LoadResult result = parse_config_text(
      "[pooler]\nauth_type = trust\n[alerts]\n"
      "PoolSaturated.threshold = 0.9   ; of pool_size\n"
      "PoolSaturated.for = 60 # seconds\n"
      "PoolSaturated.severity = critical ; page someone\n"
      "ClientsWaiting.enabled = no ; noisy\n",
      "alerts.ini");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  const AlertRuleSettings& saturated = result.config.alerts[0];
  CHECK(saturated.threshold == 0.9);
  CHECK(saturated.for_seconds == 60);
  CHECK(saturated.severity == "critical");
  CHECK_FALSE(result.config.alerts[1].enabled);
}

TEST_CASE("syslog_facility takes syslog.conf's LOG_ spelling in any case") {
  for (const auto& [written, stored] :
       std::vector<std::pair<std::string, std::string>>{{"LOG_LOCAL0", "local0"},
                                                        {"log_daemon", "daemon"},
                                                        {"Log_Auth", "auth"},
                                                        {"LOCAL7", "local7"},
                                                        {"authpriv", "authpriv"},
                                                        {"LOG_USER ; default is daemon", "user"}}) {
    CAPTURE(written);
    LoadResult result = parse_settings("syslog_facility = " + written + "\n");
    INFO(render(result.diagnostics));
    CHECK(result.diagnostics.empty());
    CHECK(result.config.settings.syslog_facility == stored);
    CHECK(render_setting(result.config.settings, "syslog_facility") == stored);
  }
}

TEST_CASE("an unknown syslog facility is an error listing the names") {
  Diagnostic d = only(parse_settings("syslog_facility = LOG_KERNEL\n").diagnostics);
  CHECK(d.key == "syslog_facility");
  CHECK(d.message ==
        "expected auth, authpriv, daemon, user, local0, local1, local2, local3, local4, local5, "
        "local6 or local7, got 'LOG_KERNEL' (LOG_LOCAL0 and the like are accepted too)");
  CHECK(parse_syslog_facility("log_").ok() == false);
}

TEST_CASE("inline_comment_at finds ';' or '#' only at the start or after a blank") {
  CHECK(inline_comment_at("a ; b") == 2);
  CHECK(inline_comment_at("a\t# b") == 2);
  CHECK(inline_comment_at("; b") == 0);
  CHECK(inline_comment_at("a;b #c") == 4);
  CHECK(inline_comment_at("a;b#c") == std::string_view::npos);
  CHECK(strip_inline_comment("transaction   ; x") == "transaction");
  CHECK(strip_inline_comment("no comment") == "no comment");
}

}  // namespace
}  // namespace pooler::config
