// Misspelt keys: PostgreSQL's names applied to pooler settings, and "did you mean" one edit away.
#include "pooler/config/spelling.hpp"

#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

LoadResult parse_settings(const std::string& lines) {
  return parse_config_text("[pooler]\nauth_type = trust\n" + lines, "pg.ini");
}

TEST_CASE("PostgreSQL's keepalive names set the pooler's keys, with a warning naming them") {
  LoadResult result = parse_settings(
      "tcp_keepalives = 0\n"
      "tcp_keepalives_idle = 30   ; seconds\n"
      "TCP_KEEPALIVES_INTERVAL = 10\n"
      "tcp_keepalives_count = 4\n");
  REQUIRE(result.diagnostics.size() == 4);
  CHECK(result.ok());
  CHECK(format(result.diagnostics[1]) ==
        "pg.ini:4: warning: tcp_keepalives_idle: PostgreSQL's name for a pooler setting; applied "
        "as \"tcp_keepidle\" (write that to silence this warning)");
  CHECK(result.diagnostics[0].message.find("\"tcp_keepalive\"") != std::string::npos);
  CHECK(result.diagnostics[2].key == "TCP_KEEPALIVES_INTERVAL");
  CHECK(result.diagnostics[2].message.find("\"tcp_keepintvl\"") != std::string::npos);
  CHECK(result.diagnostics[3].message.find("\"tcp_keepcnt\"") != std::string::npos);
  const Settings& s = result.config.settings;
  CHECK_FALSE(s.tcp_keepalive);
  CHECK(s.tcp_keepidle == 30);
  CHECK(s.tcp_keepintvl == 10);
  CHECK(s.tcp_keepcnt == 4);
}

TEST_CASE("libpq's keepalives names are PostgreSQL's too") {
  LoadResult result = parse_settings("keepalives_idle = 45\n");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kWarning);
  CHECK(result.config.settings.tcp_keepidle == 45);
}

TEST_CASE("a bad value under PostgreSQL's name is an error naming the pooler's key") {
  LoadResult result = parse_settings("tcp_keepalives_idle = soon\n");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.diagnostics[0].severity == Severity::kWarning);
  CHECK(format(result.diagnostics[1]) ==
        "pg.ini:3: error: tcp_keepidle: expected an integer, got 'soon'");
}

TEST_CASE("an unknown key one edit from a known one gets a suggestion, and is still ignored") {
  for (const auto& [typo, meant] : std::vector<std::pair<std::string, std::string>>{
           {"listen_prot", "listen_port"},               // neighbours swapped
           {"max_client_con", "max_client_conn"},        // a letter left out
           {"default_pool_sizes", "default_pool_size"},  // a letter too many
           {"pool_mose", "pool_mode"},                   // a letter wrong
           {"Server_Lifetimd", "server_lifetime"},       // in any case
       }) {
    CAPTURE(typo);
    LoadResult result = parse_settings(typo + " = 1\n");
    Diagnostic d = only(result.diagnostics);
    CHECK(d.severity == Severity::kWarning);
    CHECK(d.key == typo);
    CHECK(d.message == "unknown setting; ignored; did you mean \"" + meant + "\"?");
  }
  CHECK(parse_settings("pool_mose = statement\n").config.settings.pool_mode == PoolMode::kSession);
}

TEST_CASE("an unknown key far from every known one gets no suggestion") {
  Diagnostic d = only(parse_settings("frobnicate = 1\n").diagnostics);
  CHECK(d.message == "unknown setting; ignored");
}

TEST_CASE("an unknown database or user parameter one edit away gets a suggestion") {
  LoadResult result = parse_config_text(
      "[pooler]\nauth_type = trust\n[databases]\napp = host=h pool_sise=5\n"
      "[users]\nbob = max_user_conections=3\n",
      "entries.ini");
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(format(result.diagnostics[0]) ==
        "entries.ini:4: error: app: unknown parameter 'pool_sise' in database entry; did you "
        "mean \"pool_size\"?");
  CHECK(result.diagnostics[1].message ==
        "unknown parameter 'max_user_conections' in user entry; did you mean "
        "\"max_user_connections\"?");
}

TEST_CASE("one_edit_apart: insertion, deletion, substitution and transposition only") {
  CHECK(one_edit_apart("listen_port", "listen_prot"));
  CHECK(one_edit_apart("abc", "abcd"));
  CHECK(one_edit_apart("abcd", "abc"));
  CHECK(one_edit_apart("abc", "xbc"));
  CHECK(one_edit_apart("abc", "bac"));
  CHECK(one_edit_apart("", "a"));
  CHECK(one_edit_apart("ABC", "abd"));
  CHECK_FALSE(one_edit_apart("abc", "abc"));
  CHECK_FALSE(one_edit_apart("abc", "ABC"));
  CHECK_FALSE(one_edit_apart("abc", "cba"));
  CHECK_FALSE(one_edit_apart("abc", "abcde"));
  CHECK_FALSE(one_edit_apart("abcd", "badc"));
  CHECK_FALSE(one_edit_apart("abc", "xyc"));
}

TEST_CASE("PostgreSQL's names are not mistaken for anything else") {
  CHECK(pooler_key_for_postgres_name("tcp_keepalives_idle") == "tcp_keepidle");
  CHECK(pooler_key_for_postgres_name("tcp_keepidle") == std::nullopt);
  CHECK(pooler_key_for_postgres_name("listen_port") == std::nullopt);
}

}  // namespace
}  // namespace pooler::config
