// The login decision: auth_type as it is, or the first matching hba rule's method, with
// PostgreSQL 15's refusal messages (checked against a real PostgreSQL 15).
#include "pooler/frontend/login_method.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "pooler/config/hba.hpp"

namespace pooler::frontend {
namespace {

using config::AuthType;

// A Config with auth_type = hba and the rules of `text`, which must parse cleanly.
config::Config hba_config(const std::string& text) {
  config::Config config;
  config.settings.auth_type = AuthType::kHba;
  std::vector<config::Diagnostic> diagnostics;
  config.hba = std::make_shared<config::HbaRules>(
      config::parse_hba_text(text, "hba.conf", nullptr, diagnostics));
  REQUIRE(diagnostics.empty());
  return config;
}

LoginRequest tcp(std::string database, std::string user, std::string address = "10.1.2.3") {
  return LoginRequest{false, false, std::move(address), std::move(database), std::move(user)};
}

LoginRequest local(std::string database, std::string user) {
  return LoginRequest{true, false, "", std::move(database), std::move(user)};
}

TEST_CASE("without auth_type = hba the login runs auth_type itself") {
  config::Config config;
  for (AuthType type : {AuthType::kTrust, AuthType::kAny, AuthType::kPlain, AuthType::kMd5,
                        AuthType::kScramSha256}) {
    CAPTURE(config::to_string(type));
    config.settings.auth_type = type;
    LoginMethod method = decide_login_method(config, tcp("app", "alice"));
    CHECK(method.kind == LoginKind::kAuthenticator);
    CHECK(method.auth_type == type);
    CHECK(method.hba_line == 0);
  }
  config.settings.auth_type = AuthType::kCert;
  LoginMethod cert = decide_login_method(config, tcp("app", "alice"));
  CHECK(cert.kind == LoginKind::kCertificate);
  CHECK(cert.map.empty());
}

TEST_CASE("each hba method becomes the way the frontend authenticates") {
  config::Config config = hba_config(
      "host trustdb all all trust\n"
      "host passdb all all password\n"
      "host md5db all all md5\n"
      "host scramdb all all scram-sha-256\n"
      "hostssl certdb all all cert map=certs\n"
      "local all all peer map=os\n");
  struct Expect {
    const char* database;
    AuthType type;
    int line;
  };
  for (Expect e :
       {Expect{"trustdb", AuthType::kTrust, 1}, Expect{"passdb", AuthType::kPlain, 2},
        Expect{"md5db", AuthType::kMd5, 3}, Expect{"scramdb", AuthType::kScramSha256, 4}}) {
    CAPTURE(e.database);
    LoginMethod method = decide_login_method(config, tcp(e.database, "alice"));
    CHECK(method.kind == LoginKind::kAuthenticator);
    CHECK(method.auth_type == e.type);
    CHECK(method.hba_line == e.line);
  }
  LoginRequest tls = tcp("certdb", "alice");
  tls.tls = true;
  LoginMethod cert = decide_login_method(config, tls);
  CHECK(cert.kind == LoginKind::kCertificate);
  CHECK(cert.map == "certs");
  CHECK(cert.hba_line == 5);
  LoginMethod peer = decide_login_method(config, local("app", "alice"));
  CHECK(peer.kind == LoginKind::kPeer);
  CHECK(peer.map == "os");
  CHECK(peer.hba_line == 6);
}

TEST_CASE("no matching rule refuses with PostgreSQL's message naming address, user, database") {
  config::Config config = hba_config("host app alice 10.0.0.0/8 trust\n");
  LoginMethod method = decide_login_method(config, tcp("app", "bob"));
  CHECK(method.kind == LoginKind::kRefused);
  CHECK(method.refusal ==
        "no pg_hba.conf entry for host \"10.1.2.3\", user \"bob\", database \"app\", "
        "no encryption");
  CHECK(method.hba_line == 0);

  LoginRequest tls = tcp("app", "alice", "192.168.0.1");
  tls.tls = true;
  CHECK(decide_login_method(config, tls).refusal ==
        "no pg_hba.conf entry for host \"192.168.0.1\", user \"alice\", database \"app\", "
        "SSL encryption");
  CHECK(decide_login_method(config, local("app", "alice")).refusal ==
        "no pg_hba.conf entry for host \"[local]\", user \"alice\", database \"app\", "
        "no encryption");
}

TEST_CASE("a physical replication connection is refused in PostgreSQL's words, no database") {
  config::Config config = hba_config(
      "host all all 10.0.0.0/8 trust\n"
      "host replication bob 10.0.0.0/8 reject\n"
      "host replication alice 10.0.0.0/8 md5\n");
  LoginRequest physical = tcp("replication", "carol");
  physical.physical_replication = true;
  CHECK(decide_login_method(config, physical).refusal ==
        "no pg_hba.conf entry for replication connection from host \"10.1.2.3\", user "
        "\"carol\", no encryption");
  physical.user = "bob";
  CHECK(decide_login_method(config, physical).refusal ==
        "pg_hba.conf rejects replication connection for host \"10.1.2.3\", user \"bob\", "
        "no encryption");
  physical.user = "alice";
  LoginMethod admitted = decide_login_method(config, physical);
  CHECK(admitted.kind == LoginKind::kAuthenticator);
  CHECK(admitted.auth_type == AuthType::kMd5);
  CHECK(admitted.hba_line == 3);
}

TEST_CASE("auth_type = hba with no rules loaded refuses every login") {
  config::Config config;
  config.settings.auth_type = AuthType::kHba;
  LoginMethod method = decide_login_method(config, local("app", "alice"));
  CHECK(method.kind == LoginKind::kRefused);
  CHECK(method.refusal.find("no pg_hba.conf entry for host \"[local]\"") == 0);
}

TEST_CASE("a reject rule refuses with its own message, and the first match wins") {
  config::Config config = hba_config(
      "host all mallory all reject\n"
      "host all all 10.0.0.0/8 trust\n"
      "host all all all reject\n");
  LoginMethod rejected = decide_login_method(config, tcp("app", "mallory"));
  CHECK(rejected.kind == LoginKind::kRefused);
  CHECK(rejected.refusal ==
        "pg_hba.conf rejects connection for host \"10.1.2.3\", user \"mallory\", "
        "database \"app\", no encryption");
  CHECK(rejected.hba_line == 1);
  CHECK(decide_login_method(config, tcp("app", "alice")).kind == LoginKind::kAuthenticator);
  LoginMethod outside = decide_login_method(config, tcp("app", "alice", "11.0.0.1"));
  CHECK(outside.kind == LoginKind::kRefused);
  CHECK(outside.hba_line == 3);
  CHECK(outside.refusal.find("pg_hba.conf rejects connection for host \"11.0.0.1\"") == 0);
}

TEST_CASE("an IPv4 client seen through an IPv6 listener matches IPv4 rules as itself") {
  config::Config config = hba_config("host all all 10.0.0.0/8 trust\n");
  CHECK(decide_login_method(config, tcp("app", "alice", "::ffff:10.9.9.9")).kind ==
        LoginKind::kAuthenticator);
  CHECK(decide_login_method(config, tcp("app", "alice", "::ffff:11.9.9.9")).refusal ==
        "no pg_hba.conf entry for host \"11.9.9.9\", user \"alice\", database \"app\", "
        "no encryption");
}

TEST_CASE("a peer rule never admits a TCP client, even one not made by the parser") {
  config::Config config;
  config.settings.auth_type = AuthType::kHba;
  auto rules = std::make_shared<config::HbaRules>();
  config::HbaRule rule;
  rule.line = 7;
  rule.connection = config::HbaConnection::kHost;
  rule.databases.all = rule.users.all = rule.address.all = true;
  rule.method = config::HbaMethod::kPeer;
  rules->rules.push_back(rule);
  config.hba = rules;
  LoginMethod method = decide_login_method(config, tcp("app", "alice"));
  CHECK(method.kind == LoginKind::kRefused);
  CHECK(method.refusal == "peer authentication is only supported on local sockets");
}

}  // namespace
}  // namespace pooler::frontend
