// auth_ident_file parsing (each error it names) and what a map lets log in.
#include "pooler/config/ident_map.hpp"

#include <doctest/doctest.h>

#include "config_test_support.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

IdentMaps parse_clean(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  IdentMaps maps = parse_ident_text(text, "ident.conf", diagnostics);
  INFO(render(diagnostics));
  REQUIRE(diagnostics.empty());
  return maps;
}

TEST_CASE("ident: a plain entry maps one system name to one database user") {
  IdentMaps maps = parse_clean(
      "# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n"
      "ops        root             postgres   # comment\n"
      "ops        \"jane doe\"     jane\n");
  REQUIRE(maps.entries.size() == 2);
  CHECK(maps.entries[0].line == 2);
  CHECK(ident_allows(maps, "ops", "root", "postgres"));
  CHECK(ident_allows(maps, "ops", "jane doe", "jane"));
  CHECK_FALSE(ident_allows(maps, "ops", "root", "jane"));
  CHECK_FALSE(ident_allows(maps, "other", "root", "postgres"));
}

TEST_CASE("ident: a regular expression, with \\1 taking its first capture") {
  IdentMaps maps = parse_clean(
      "certs  /^(.*)@example\\.com$  \\1\n"
      "certs  /^svc-              app\n"
      "certs  /^[*+?{(]+x*$         star\n");
  CHECK(ident_allows(maps, "certs", "alice@example.com", "alice"));
  CHECK_FALSE(ident_allows(maps, "certs", "alice@example.com", "bob"));
  CHECK_FALSE(ident_allows(maps, "certs", "alice@example.org", "alice"));
  CHECK(ident_allows(maps, "certs", "svc-billing", "app"));
  // Inside a bracket expression the repetition characters are literals, not repetitions.
  CHECK(ident_allows(maps, "certs", "*+{(xx", "star"));
}

TEST_CASE("ident: each error names the file and line, and the line is left out") {
  struct Case {
    const char* text;
    const char* message_start;
  };
  const Case cases[] = {
      {"ops root\n",
       "expected three fields (map name, system user name, database user name), got 2"},
      {"ops root postgres extra\n",
       "expected three fields (map name, system user name, database user name), got 4"},
      {"ops \"root postgres\n", "unterminated quoted string"},
      {"ops /([a-z postgres\n", "invalid regular expression \"([a-z\""},
      {"ops /^(a{1,100}){1,100}$ postgres\n",
       "regular expression refused: counted repetition ({m,n}) is not supported"},
      {"ops /a+b+c+d+e+f+g+h+i+ postgres\n",
       "regular expression refused: more than 8 '+' repetitions"},
      // A fuzzed "^z***..." kept regcomp's epsilon closure recursing for seconds.
      {"ops /^z*** postgres\n",
       "regular expression refused: a repetition of a repetition (such as \"a**\") is not "
       "supported"},
      {"ops /^(a|b)*(c|d)*e?f?g?h?i?j?k?l?m?n?o?p?q?r?s?t?u?v?w?x?y?z?0?1?2?3?4?5?6?7?8? "
       "postgres\n",
       "regular expression refused: more than 32 repetitions (*, + or ?)"},
      {"ops /(((((((((a))))))))) postgres\n",
       "regular expression refused: groups nested more than 8 deep"},
      {"ops /^(a*)\\1$ postgres\n",
       "regular expression refused: back-references (\\1) are not supported in the pattern"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::vector<Diagnostic> diagnostics;
    IdentMaps maps = parse_ident_text(std::string("\n") + c.text, "ident.conf", diagnostics);
    CHECK(maps.entries.empty());
    Diagnostic d = only(diagnostics);
    CHECK(d.message.rfind(c.message_start, 0) == 0);
    CHECK(d.file == "ident.conf");
    CHECK(d.line == 2);
  }
}

}  // namespace
}  // namespace pooler::config
