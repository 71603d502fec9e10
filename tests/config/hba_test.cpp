// auth_hba_file parsing (every error it names, with file and line) and first-match decisions.
#include "pooler/config/hba.hpp"

#include <doctest/doctest.h>

#include <map>

#include "config_test_support.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

std::map<std::string, std::string> g_files;

HbaRules parse(const std::string& text, std::vector<Diagnostic>& diagnostics) {
  return parse_hba_text(text, "/etc/pooler/hba.conf",
                        [](const std::string& path) -> std::optional<std::string> {
                          auto found = g_files.find(path);
                          if (found == g_files.end()) return std::nullopt;
                          return found->second;
                        },
                        diagnostics);
}

HbaRules parse_clean(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  HbaRules rules = parse(text, diagnostics);
  INFO(render(diagnostics));
  REQUIRE(diagnostics.empty());
  return rules;
}

Diagnostic error_of(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  HbaRules rules = parse(text, diagnostics);
  CHECK(rules.rules.empty());
  return only(diagnostics);
}

HbaRequest tcp(std::string address, std::string database, std::string user, bool tls = false) {
  return {false, tls, std::move(address), std::move(database), std::move(user)};
}

HbaRequest unix_socket(std::string database, std::string user) {
  return {true, false, "", std::move(database), std::move(user)};
}

// The method of the rule that decides, or "none".
std::string decided(const HbaRules& rules, const HbaRequest& request) {
  const HbaRule* rule = match_hba(rules, request);
  return rule == nullptr ? "none" : to_string(rule->method);
}

TEST_CASE("hba: the first matching line decides, and no match is none") {
  HbaRules rules = parse_clean(
      "# comment\n"
      "host app alice 10.0.0.0/8 reject\n"
      "host all all 10.0.0.0/8 scram-sha-256   # trailing comment\n"
      "host all all 0.0.0.0/0 md5\n");
  REQUIRE(rules.rules.size() == 3);
  CHECK(rules.rules[0].line == 2);
  CHECK(decided(rules, tcp("10.1.2.3", "app", "alice")) == "reject");
  CHECK(decided(rules, tcp("10.1.2.3", "app", "bob")) == "scram-sha-256");
  CHECK(decided(rules, tcp("192.168.1.1", "app", "alice")) == "md5");
  CHECK(decided(rules, tcp("::1", "app", "alice")) == "none");  // IPv4 rules take no IPv6
  CHECK(decided(rules, unix_socket("app", "alice")) == "none");
}

TEST_CASE("hba: local, host, hostssl and hostnossl match their connections") {
  HbaRules rules = parse_clean(
      "local all all peer\n"
      "hostssl all all all cert\n"
      "hostnossl all all 127.0.0.1/32 password\n"
      "host all all ::1/128 trust\n");
  CHECK(decided(rules, unix_socket("db", "u")) == "peer");
  CHECK(decided(rules, tcp("127.0.0.1", "db", "u", true)) == "cert");
  CHECK(decided(rules, tcp("127.0.0.1", "db", "u", false)) == "password");
  CHECK(decided(rules, tcp("::1", "db", "u", false)) == "trust");
  CHECK(decided(rules, tcp("127.0.0.2", "db", "u", false)) == "none");
}

TEST_CASE("hba: names, lists, sameuser, quoted keywords and @files") {
  g_files["/etc/pooler/admins.txt"] = "# the admins\nroot, ops\n  dba\n";
  g_files["/abs/dbs"] = "reports";
  HbaRules rules = parse_clean(
      "host sameuser all all trust\n"
      "host app,\"all\" @admins.txt all md5\n"
      "host @/abs/dbs , extra \"carol\" all password\n"
      "host replication all all reject\n");
  CHECK(decided(rules, tcp("10.0.0.1", "bob", "bob")) == "trust");
  CHECK(decided(rules, tcp("10.0.0.1", "app", "ops")) == "md5");
  CHECK(decided(rules, tcp("10.0.0.1", "all", "dba")) == "md5");  // "all" quoted is a name
  CHECK(decided(rules, tcp("10.0.0.1", "other", "dba")) == "none");
  CHECK(decided(rules, tcp("10.0.0.1", "reports", "carol")) == "password");
  CHECK(decided(rules, tcp("10.0.0.1", "extra", "carol")) == "password");
  // An ordinary login to a database called "replication" is not a replication connection.
  CHECK(decided(rules, tcp("10.0.0.1", "replication", "x")) == "none");
}

TEST_CASE("hba: a physical replication connection matches the replication keyword only") {
  HbaRules rules = parse_clean(
      "host all all all md5\n"
      "host \"replication\" all all password\n"
      "host replication repl 10.0.0.0/8 trust\n"
      "host replication all all reject\n");
  HbaRequest physical = tcp("10.0.0.1", "replication", "repl");
  physical.physical_replication = true;
  CHECK(decided(rules, physical) == "trust");  // neither all nor the quoted name
  physical.user = "other";
  CHECK(decided(rules, physical) == "reject");
  // A logical one names its database and matches as any login does.
  CHECK(decided(rules, tcp("10.0.0.1", "app", "repl")) == "md5");
  CHECK(decided(parse_clean("host all all all md5\n"), physical) == "none");
}

TEST_CASE("hba: an address with a separate mask, IPv6 prefixes, a continued line, map=") {
  HbaRules rules = parse_clean(
      "host all all 192.168.0.0 255.255.0.0 md5\n"
      "host all all fd00::/8 \\\n"
      "  scram-sha-256\n"
      "local all all peer map=ops\n");
  REQUIRE(rules.rules.size() == 3);
  CHECK(rules.rules[1].line == 2);
  CHECK(rules.rules[2].map == "ops");
  CHECK(decided(rules, tcp("192.168.7.7", "d", "u")) == "md5");
  CHECK(decided(rules, tcp("192.169.0.1", "d", "u")) == "none");
  CHECK(decided(rules, tcp("fd12::5", "d", "u")) == "scram-sha-256");
  CHECK(decided(rules, tcp("fe80::1", "d", "u")) == "none");
}

TEST_CASE("hba: every error names the file and line, and the line is left out") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"hots all all all md5\n", "invalid connection type \"hots\""},
      {"host all\n", "end of line before the user field"},
      {"host all all\n", "end of line before the address field"},
      {"host all all all\n", "end of line before the method field"},
      {"local all all\n", "end of line before the method field"},
      {"host all all db.example.com md5\n",
       "invalid IP address \"db.example.com\" (host names are not supported)"},
      {"host all all 10.0.0.0/33 md5\n", "invalid CIDR mask in address \"10.0.0.0/33\""},
      {"host all all 10.0.0.0/x md5\n", "invalid CIDR mask in address \"10.0.0.0/x\""},
      {"host all all 10.0.0.0 255.0.0 md5\n", "invalid IP mask \"255.0.0\""},
      {"host all all 10.0.0.0\n", "end of line before the IP mask field"},
      {"host all all samenet md5\n", "\"samenet\" is not supported; write the address"},
      {"host all all all ldap\n", "authentication method \"ldap\" is not supported"},
      {"host all all all magic\n", "invalid authentication method \"magic\""},
      {"host all all all md5 clientcert=verify-full\n",
       "unsupported authentication option \"clientcert=verify-full\""},
      {"host all all all md5 map=x\n", "map= is only for the peer and cert methods"},
      {"host all all all peer\n",
       "peer authentication is only for local (unix socket) connections"},
      {"host all all all cert\n", "cert authentication is only for hostssl connections"},
      {"host all +staff all md5\n", "group membership (+staff) is not supported"},
      {"host all @missing.txt all md5\n",
       "could not read the included file \"/etc/pooler/missing.txt\""},
      {"host all @ all md5\n", "@ without a file name"},
      {"host \"app all all md5\n", "unterminated quoted string"},
      {"host \"\" all all md5\n", "empty database name"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    Diagnostic d = error_of(std::string("\n") + c.text);
    CHECK(d.message == c.message);
    CHECK(d.file == "/etc/pooler/hba.conf");
    CHECK(d.line == 2);
    CHECK(d.severity == Severity::kError);
  }
}

TEST_CASE("hba: a bad line does not hide the good ones around it") {
  std::vector<Diagnostic> diagnostics;
  HbaRules rules = parse(
      "host all all 10.0.0.0/8 md5\n"
      "host all all nowhere md5\n"
      "host all all all reject\n",
      diagnostics);
  CHECK(diagnostics.size() == 1);
  REQUIRE(rules.rules.size() == 2);
  CHECK(rules.rules[1].line == 3);
}

}  // namespace
}  // namespace pooler::config
