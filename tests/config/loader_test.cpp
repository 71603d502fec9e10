// Parsing PgBouncer-format config text: sections, settings, comments, long lines, diagnostics.
#include "pooler/config/loader.hpp"

#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/values.hpp"
#include "../util/lcg.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

// Settings every fixture needs so that only the thing under test can produce a diagnostic.
constexpr const char* kBase =
    "[pooler]\n"
    "auth_type = trust\n";

constexpr const char* kFullConfig = R"ini(
; a production-like configuration
[databases]
app = host=10.0.0.5 port=5433 dbname=app_production pool_size=30
* = host=127.0.0.1

[users]
report = pool_mode=session max_user_connections=5

[pooler]
listen_addr = 0.0.0.0
listen_port = 6543
unix_socket_dir =
auth_type = scram-sha-256
auth_file = /etc/pooler/userlist.txt
admin_users = admin, ops
stats_users = grafana
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 25
reserve_pool_size = 5
reserve_pool_timeout = 2.5
server_reset_query = DISCARD ALL
server_idle_timeout = 300
query_wait_timeout = 30
ignore_startup_parameters = extra_float_digits, options
log_connections = no
tcp_keepalive = on
)ini";

TEST_CASE("a complete production-like config parses with no diagnostics") {
  LoadResult result = parse_config_text(kFullConfig, "full.ini");
  INFO(render(result.diagnostics));
  REQUIRE(result.diagnostics.empty());
  REQUIRE(result.ok());
  const Settings& s = result.config.settings;
  CHECK(result.config.path == "full.ini");
  CHECK(s.listen_addr == "0.0.0.0");
  CHECK(s.listen_port == 6543);
  CHECK(s.unix_socket_dir.empty());
  CHECK(s.auth_type == AuthType::kScramSha256);
  CHECK(s.auth_file == "/etc/pooler/userlist.txt");
  CHECK(s.admin_users == std::vector<std::string>{"admin", "ops"});
  CHECK(s.stats_users == std::vector<std::string>{"grafana"});
  CHECK(s.pool_mode == PoolMode::kTransaction);
  CHECK(s.max_client_conn == 2000);
  CHECK(s.default_pool_size == 25);
  CHECK(s.reserve_pool_size == 5);
  CHECK(s.reserve_pool_timeout == 2.5);
  CHECK(s.server_idle_timeout == 300);
  CHECK(s.query_wait_timeout == 30);
  CHECK(s.ignore_startup_parameters == std::vector<std::string>{"extra_float_digits", "options"});
  CHECK_FALSE(s.log_connections);
  CHECK(s.tcp_keepalive);
  CHECK(result.config.databases.size() == 2);
  CHECK(result.config.users.size() == 1);
}

TEST_CASE("[pgbouncer] is accepted as the settings section") {
  LoadResult result =
      parse_config_text("[pgbouncer]\nauth_type = trust\nlisten_port = 7000\n", "bouncer.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.settings.listen_port == 7000);
}

TEST_CASE("section names and keys are case-insensitive") {
  LoadResult result =
      parse_config_text("[PgBouncer]\nAUTH_TYPE = trust\nListen_Port = 7001\n", "case.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.settings.listen_port == 7001);
}

TEST_CASE("an unknown key is a warning naming file, line and key") {
  LoadResult result = parse_config_text(std::string(kBase) + "\nlisten_prot = 6432\n", "typo.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kWarning);
  CHECK(d.file == "typo.ini");
  CHECK(d.line == 4);
  CHECK(d.key == "listen_prot");
  CHECK(result.ok());
  CHECK(
      format(d) ==
      "typo.ini:4: warning: listen_prot: unknown setting; ignored; did you mean \"listen_port\"?");
}

TEST_CASE("a bad number is an error naming file, line, key and why") {
  LoadResult result = parse_config_text(std::string(kBase) + "listen_port = abc\n", "bad.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK_FALSE(result.ok());
  CHECK(format(d) == "bad.ini:3: error: listen_port: expected an integer, got 'abc'");
  CHECK(result.config.settings.listen_port == 6432);
}

TEST_CASE("a bad pool_mode is an error listing the modes") {
  LoadResult result = parse_config_text(std::string(kBase) + "pool_mode = bogus\n", "mode.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kError);
  CHECK(d.line == 3);
  CHECK(d.key == "pool_mode");
  CHECK(d.message == "expected session, transaction or statement, got 'bogus'");
}

TEST_CASE("a negative pool size is an error") {
  LoadResult result = parse_config_text(std::string(kBase) + "default_pool_size = -5\n", "neg.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.key == "default_pool_size");
  CHECK(d.message == "must be at least 0, got '-5'");
}

TEST_CASE("every bad line is reported, not only the first") {
  LoadResult result = parse_config_text(
      std::string(kBase) + "listen_port = x\nmax_client_conn = 0\nverbose = loud\n", "many.ini");
  REQUIRE(result.diagnostics.size() == 3);
  CHECK(result.diagnostics[0].line == 3);
  CHECK(result.diagnostics[1].line == 4);
  CHECK(result.diagnostics[2].line == 5);
}

TEST_CASE("a semicolon inside a text value is kept, as PgBouncer only has line comments") {
  LoadResult result = parse_config_text(std::string(kBase) +
                                            "server_reset_query = DISCARD ALL;\n"
                                            "; a comment line\n"
                                            "# another comment line\n",
                                        "semi.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.settings.server_reset_query == "DISCARD ALL;");
}

TEST_CASE(
    "a text value holding ' ;' or ' #' is kept whole, with a warning that quotes none of it") {
  LoadResult result = parse_config_text(std::string(kBase) +
                                            "server_check_query = select 1 ; select 2\n"
                                            "auth_ldap_options = bindpasswd=se #cret\n",
                                        "semi.ini");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.ok());
  const Diagnostic& query = result.diagnostics[0];
  CHECK(format(query) ==
        "semi.ini:3: warning: server_check_query: ';' after a blank is kept as part of this text "
        "value, not taken as a comment; put a comment on a line of its own");
  const Diagnostic& secret = result.diagnostics[1];
  CHECK(secret.line == 4);
  CHECK(secret.key == "auth_ldap_options");
  CHECK(secret.message.find("'#' after a blank") == 0);
  CHECK(secret.message.find("cret") == std::string::npos);
  CHECK(secret.message.find("bindpasswd") == std::string::npos);
  CHECK(result.config.settings.server_check_query == "select 1 ; select 2");
  CHECK(result.config.settings.auth_ldap_options == "bindpasswd=se #cret");
}

TEST_CASE("indented lines are ordinary lines, not continuations") {
  LoadResult result = parse_config_text(
      "[pooler]\n  auth_type = trust\n    listen_port = 7002\n\t\tpool_mode = statement\n",
      "indent.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.settings.listen_port == 7002);
  CHECK(result.config.settings.pool_mode == PoolMode::kStatement);
}

TEST_CASE("a value with a colon and Windows line endings parse as written") {
  LoadResult result = parse_config_text(
      "[pooler]\r\nauth_type = trust\r\nlisten_addr = ::1\r\nlogfile = C:/log.txt\r\n", "crlf.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.settings.listen_addr == "::1");
  CHECK(result.config.settings.logfile == "C:/log.txt");
}

TEST_CASE("lines longer than inih's buffer are read whole") {
  std::string query = "SELECT usename, passwd FROM pg_shadow WHERE usename = $1";
  while (query.size() < 900) {
    query += " AND   usename   <>   'someone_with_a_rather_long_name'";
  }
  std::string quoted_query;
  for (char c : query) {
    quoted_query += c == '\'' ? "''" : std::string(1, c);
  }
  std::string db_line = "longdb = host=db.internal port=5432 connect_query='" + quoted_query + "'";
  LoadResult result = parse_config_text(std::string(kBase) + "auth_query = " + query +
                                            "\nlisten_port = 7003\n[databases]\n" + db_line +
                                            "\nafter = dbname=x\n",
                                        "long.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.settings.auth_query == query);
  CHECK(result.config.settings.listen_port == 7003);
  REQUIRE(result.config.databases.count("longdb") == 1);
  CHECK(result.config.databases.at("longdb").connect_query == query);
  CHECK(result.config.databases.at("longdb").line == 6);
  CHECK(result.config.databases.at("after").line == 7);
}

TEST_CASE("a long line that cannot be split is an error naming its line") {
  std::string blanks(400, ' ');
  LoadResult result = parse_config_text(
      std::string(kBase) + "server_check_query = a" + blanks + "b\nlisten_port = 7004\n",
      "blank.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.line == 3);
  CHECK(d.message.find("too long") != std::string::npos);
  CHECK(result.config.settings.listen_port == 7004);
}

TEST_CASE("a line without '=' and a broken section header are errors with their lines") {
  LoadResult result =
      parse_config_text(std::string(kBase) + "listen_port 6432\n[databases\n", "syntax.ini");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.diagnostics[0].line == 3);
  CHECK(result.diagnostics[0].message.find("name = value") != std::string::npos);
  CHECK(result.diagnostics[1].line == 4);
  CHECK(result.diagnostics[1].message.find("']'") != std::string::npos);
}

TEST_CASE("[peers] is accepted and ignored; an unknown section warns once") {
  LoadResult result = parse_config_text(
      std::string(kBase) + "[peers]\n1 = host=10.0.0.1 port=6432\n[extra]\na = 1\nb = 2\n",
      "peers.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kWarning);
  CHECK(d.line == 5);
  CHECK(d.message.find("[extra]") != std::string::npos);
}

TEST_CASE("auth_file is required for password auth types") {
  for (std::string type : {"md5", "scram-sha-256", "plain"}) {
    CAPTURE(type);
    LoadResult result = parse_config_text("[pooler]\n\nauth_type = " + type + "\n", "auth.ini");
    Diagnostic d = only(result.diagnostics);
    CHECK(d.severity == Severity::kError);
    CHECK(d.key == "auth_file");
    CHECK(d.line == 3);
    CHECK(d.message == "auth_file is required for auth_type=" + type);
  }
}

TEST_CASE("the default auth_type (md5) also needs auth_file; trust and any do not") {
  Diagnostic d = only(parse_config_text("[pooler]\nlisten_port = 6432\n", "md5.ini").diagnostics);
  CHECK(d.key == "auth_file");
  CHECK(d.line == 0);
  CHECK(format(d) == "md5.ini: error: auth_file: auth_file is required for auth_type=md5");
  CHECK(parse_config_text("[pooler]\nauth_type = any\n", "any.ini").diagnostics.empty());
}

TEST_CASE("auth types not supported yet are an error naming the type") {
  LoadResult result = parse_config_text("[pooler]\nauth_type = ldap\n", "ldap.ini");
  REQUIRE_FALSE(result.ok());
  CHECK(result.diagnostics[0].key == "auth_type");
  CHECK(result.diagnostics[0].message.find("auth_type=ldap is not supported yet") == 0);
}

TEST_CASE("auth_type = hba needs auth_hba_file, and not auth_file") {
  Diagnostic d = only(parse_config_text("[pooler]\n\nauth_type = hba\n", "hba.ini").diagnostics);
  CHECK(d.key == "auth_hba_file");
  CHECK(d.line == 3);
  CHECK(d.message == "auth_hba_file is required for auth_type=hba");
  CHECK(parse_config_text("[pooler]\nauth_type = hba\nauth_hba_file = hba.conf\n", "hba.ini")
            .diagnostics.empty());
}

TEST_CASE("client TLS that cannot work is an error naming what it lacks") {
  auto first = [](const std::string& lines) {
    return only(parse_config_text("[pooler]\nauth_type = trust\n" + lines, "tls.ini").diagnostics);
  };
  Diagnostic no_files = first("client_tls_sslmode = require\n");
  CHECK(no_files.key == "client_tls_sslmode");
  CHECK(no_files.line == 3);
  CHECK(no_files.message ==
        "client_tls_sslmode=require needs client_tls_key_file and client_tls_cert_file");
  const std::string files = "client_tls_key_file = k.pem\nclient_tls_cert_file = c.pem\n";
  Diagnostic no_ca = first("client_tls_sslmode = verify-ca\n" + files);
  CHECK(no_ca.key == "client_tls_ca_file");
  CHECK(no_ca.message.find("needs client_tls_ca_file") != std::string::npos);
  Diagnostic cert = only(parse_config_text(
      "[pooler]\nauth_type = cert\nclient_tls_sslmode = require\n" + files, "cert.ini")
                             .diagnostics);
  CHECK(cert.key == "auth_type");
  CHECK(cert.message == "auth_type=cert needs client_tls_sslmode=verify-ca or verify-full");
  CHECK(parse_config_text("[pooler]\nauth_type = cert\nclient_tls_sslmode = verify-full\n" +
                              files + "client_tls_ca_file = ca.pem\n",
                          "ok.ini")
            .diagnostics.empty());
  // The server side needs no files: prefer is the default, as in PgBouncer.
  CHECK(parse_config_text("[pooler]\nauth_type = trust\nserver_tls_sslmode = verify-full\n",
                          "server.ini")
            .diagnostics.empty());
}

TEST_CASE("nothing to listen on is an error") {
  LoadResult result =
      parse_config_text(std::string(kBase) + "listen_addr =\nunix_socket_dir =\n", "deaf.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.key == "listen_addr");
  CHECK(d.line == 3);
  CHECK(d.message.find("nothing to listen on") == 0);
}

TEST_CASE("keys outside any section and control characters are reported") {
  LoadResult result =
      parse_config_text(std::string("stray = 1\n") + kBase + "verbose = 1\x01\n", "odd.ini");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.diagnostics[0].severity == Severity::kWarning);
  CHECK(result.diagnostics[0].line == 1);
  CHECK(result.diagnostics[1].severity == Severity::kError);
  CHECK(result.diagnostics[1].line == 4);
}

TEST_CASE("a UTF-8 byte order mark is skipped") {
  LoadResult result = parse_config_text("\xEF\xBB\xBF[pooler]\nauth_type = trust\n", "bom.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
}

TEST_CASE("diagnostics format like a compiler's") {
  CHECK(format(Diagnostic{Severity::kError, "a.ini", 7, "listen_port", "bad"}) ==
        "a.ini:7: error: listen_port: bad");
  CHECK(format(Diagnostic{Severity::kWarning, "a.ini", 0, "", "odd"}) == "a.ini: warning: odd");
  CHECK(has_errors({Diagnostic{Severity::kWarning, "a", 1, "", ""},
                    Diagnostic{Severity::kError, "a", 2, "", ""}}));
  CHECK_FALSE(has_errors({Diagnostic{Severity::kWarning, "a", 1, "", ""}}));
}

using pooler::testing::Lcg;

TEST_CASE("any value survives the trip through inih exactly, however long") {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ;#:=[]'\"\\%$,.-";
  Lcg random(42);
  for (int round = 0; round < 300; ++round) {
    std::string value;
    const std::size_t length = 1 + random.next() % 1500;
    for (std::size_t i = 0; i < length; ++i) {
      value += alphabet[random.next() % alphabet.size()];
    }
    std::string expected(trim(value));
    if (expected.empty()) {
      continue;
    }
    CAPTURE(expected);
    LoadResult result = parse_config_text(
        "[pooler]\nauth_type = trust\nserver_check_query = " + value + "\nlisten_port = 7200\n",
        "trip.ini");
    INFO(render(result.diagnostics));
    // A ';' or '#' after a blank stays in the text, flagged by exactly one warning.
    const bool flagged = inline_comment_at(expected) != std::string::npos;
    CHECK(result.ok());
    REQUIRE(result.diagnostics.size() == (flagged ? 1 : 0));
    CHECK(result.config.settings.server_check_query == expected);
    CHECK(result.config.settings.listen_port == 7200);
  }
}

TEST_CASE("garbage input yields diagnostics, never a crash") {
  Lcg random(7);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const std::size_t length = random.next() % 3000;
    for (std::size_t i = 0; i < length; ++i) {
      std::uint32_t pick = random.next() % 16;
      text += pick == 0   ? '\n'
              : pick == 1 ? '='
              : pick == 2 ? '['
                          : static_cast<char>(random.next());
    }
    LoadResult result = parse_config_text(text, "garbage.ini");
    std::vector<Diagnostic> diagnostics;
    parse_auth_file_text(text, "garbage.txt", diagnostics);
    CHECK(result.config.path == "garbage.ini");
  }
}

TEST_CASE("names longer than inih's name buffer and names with ':' are kept whole") {
  const std::string long_name(63, 'd');
  LoadResult result = parse_config_text("[pooler]\nauth_type = trust\n[databases]\n" + long_name +
                                            " = host=h\n\"db:1\" = host=h port=1\n",
                                        "names.ini");
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.databases.count(long_name) == 1);
  REQUIRE(result.config.databases.count("db:1") == 1);
  CHECK(result.config.databases.at("db:1").ports == std::vector<int>{1});
}

}  // namespace
}  // namespace pooler::config
