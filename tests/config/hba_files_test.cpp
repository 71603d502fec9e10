// Loading auth_type = hba's files from disk: the rules and maps land in the Config, and every
// problem in them names the file and line, so a reload with a broken file keeps the old config.
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/hba.hpp"
#include "pooler/config/ident_map.hpp"
#include "pooler/config/loader.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;
using testing::ScratchDir;

// An ini with auth_type = hba on line 2 and `lines` after it.
std::string hba_ini(const ScratchDir& dir, const std::string& lines) {
  return dir.write("pooler.ini", "[pooler]\nauth_type = hba\n" + lines);
}

TEST_CASE("auth_type = hba loads the hba rules, their @files and the ident maps") {
  ScratchDir dir;
  dir.write("admins.txt", "alice, bob\n# a comment\ncarol\n");
  std::string hba = dir.write("hba.conf",
                              "# TYPE DATABASE USER ADDRESS METHOD\n"
                              "local all @admins.txt peer map=os\n"
                              "host app all 10.0.0.0/8 scram-sha-256\n");
  std::string ident = dir.write("ident.conf", "os root alice\n");
  LoadResult result = load_config_file(
      hba_ini(dir, "auth_hba_file = " + hba + "\nauth_ident_file = " + ident + "\n"));
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  REQUIRE(result.config.hba != nullptr);
  REQUIRE(result.config.ident_maps != nullptr);
  CHECK(result.config.hba->file == hba);
  REQUIRE(result.config.hba->rules.size() == 2);
  const HbaRule& local = result.config.hba->rules[0];
  CHECK(local.line == 2);
  CHECK(local.users.names == std::vector<std::string>{"alice", "bob", "carol"});
  CHECK(local.map == "os");
  CHECK(result.config.hba->rules[1].method == HbaMethod::kScramSha256);
  CHECK(ident_allows(*result.config.ident_maps, "os", "root", "alice"));
}

TEST_CASE("auth_type = hba without auth_ident_file has maps with no entries") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "local all all trust\n");
  LoadResult result = load_config_file(hba_ini(dir, "auth_hba_file = " + hba + "\n"));
  INFO(render(result.diagnostics));
  CHECK(result.ok());
  REQUIRE(result.config.ident_maps != nullptr);
  CHECK(result.config.ident_maps->entries.empty());
}

TEST_CASE("other auth types read neither file") {
  ScratchDir dir;
  std::string ini = dir.write(
      "pooler.ini", "[pooler]\nauth_type = trust\nauth_hba_file = " + dir.path("missing.conf") +
                        "\nauth_ident_file = " + dir.path("missing.ident") + "\n");
  LoadResult result = load_config_file(ini);
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.hba == nullptr);
  CHECK(result.config.ident_maps == nullptr);
}

TEST_CASE("an unreadable auth_hba_file is an error at the line that set it") {
  ScratchDir dir;
  std::string ini = hba_ini(dir, "\nauth_hba_file = " + dir.path("nope.conf") + "\n");
  Diagnostic d = only(load_config_file(ini).diagnostics);
  CHECK(d.severity == Severity::kError);
  CHECK(d.file == ini);
  CHECK(d.line == 4);
  CHECK(d.key == "auth_hba_file");
  CHECK(d.message.find(dir.path("nope.conf")) != std::string::npos);
  CHECK(d.message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("an unreadable auth_ident_file is an error at the line that set it") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "local all all trust\n");
  std::string ini = hba_ini(
      dir, "auth_hba_file = " + hba + "\nauth_ident_file = " + dir.path("nope.ident") + "\n");
  Diagnostic d = only(load_config_file(ini).diagnostics);
  CHECK(d.severity == Severity::kError);
  CHECK(d.file == ini);
  CHECK(d.line == 4);
  CHECK(d.key == "auth_ident_file");
  CHECK(d.message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("an error in the hba file names the hba file and line and fails the load") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "local all all trust\n\nhost all all 10.0.0.0/8 ldap\n");
  LoadResult result = load_config_file(hba_ini(dir, "auth_hba_file = " + hba + "\n"));
  Diagnostic d = only(result.diagnostics);
  CHECK_FALSE(result.ok());
  CHECK(d.severity == Severity::kError);
  CHECK(format(d) == hba + ":3: error: authentication method \"ldap\" is not supported");
}

TEST_CASE("a missing @file is an error at the hba line that names it") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "local all @nobody.txt trust\n");
  LoadResult result = load_config_file(hba_ini(dir, "auth_hba_file = " + hba + "\n"));
  Diagnostic d = only(result.diagnostics);
  CHECK_FALSE(result.ok());
  CHECK(d.file == hba);
  CHECK(d.line == 1);
  CHECK(d.message == "could not read the included file \"" + dir.path("nobody.txt") + "\"");
}

TEST_CASE("an error in the ident file names the ident file and line and fails the load") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "local all all peer map=os\n");
  std::string ident = dir.write("ident.conf", "os root alice\nos lonely\n");
  LoadResult result = load_config_file(
      hba_ini(dir, "auth_hba_file = " + hba + "\nauth_ident_file = " + ident + "\n"));
  Diagnostic d = only(result.diagnostics);
  CHECK_FALSE(result.ok());
  CHECK(d.file == ident);
  CHECK(d.line == 2);
  CHECK(d.message.find("expected three fields") == 0);
}

TEST_CASE("a map= that no ident entry defines is a warning at its hba line") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "local all all trust\nlocal all all peer map=typo\n");
  std::string ident = dir.write("ident.conf", "os root alice\n");
  LoadResult result = load_config_file(
      hba_ini(dir, "auth_hba_file = " + hba + "\nauth_ident_file = " + ident + "\n"));
  Diagnostic d = only(result.diagnostics);
  CHECK(result.ok());
  CHECK(d.severity == Severity::kWarning);
  CHECK(format(d) == hba + ":2: warning: map \"typo\" is not defined in " + ident +
                         "; this rule refuses every login");

  std::string no_ident =
      dir.write("plain.ini", "[pooler]\nauth_type = hba\nauth_hba_file = " + hba + "\n");
  Diagnostic unset = only(load_config_file(no_ident).diagnostics);
  CHECK(unset.severity == Severity::kWarning);
  CHECK(unset.message == "map=typo but auth_ident_file is not set; this rule refuses every login");
}

TEST_CASE("a cert line without a verify client_tls_sslmode is a warning at its hba line") {
  ScratchDir dir;
  std::string hba = dir.write("hba.conf", "hostssl all all all cert\n");
  std::string tls =
      "client_tls_key_file = k.pem\nclient_tls_cert_file = c.pem\n"
      "client_tls_ca_file = ca.pem\n";
  std::string ini =
      hba_ini(dir, "auth_hba_file = " + hba + "\nclient_tls_sslmode = require\n" + tls);
  LoadResult result = load_config_file(ini);
  Diagnostic d = only(result.diagnostics);
  CHECK(result.ok());
  CHECK(d.severity == Severity::kWarning);
  CHECK(d.file == hba);
  CHECK(d.line == 1);
  CHECK(d.message.find("cert needs client_tls_sslmode = verify-ca or verify-full") == 0);
  std::string verified =
      hba_ini(dir, "auth_hba_file = " + hba + "\nclient_tls_sslmode = verify-ca\n" + tls);
  LoadResult quiet = load_config_file(verified);
  INFO(render(quiet.diagnostics));
  CHECK(quiet.diagnostics.empty());
}

}  // namespace
}  // namespace pooler::config
