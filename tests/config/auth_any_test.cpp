// auth_type = any ignores the client's user name, so PgBouncer requires a forced user in every
// database: the loader warns, once, about each database that has none (its logins are refused).
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;

TEST_CASE("auth_type=any warns about each database without a forced user, naming its line") {
  LoadResult result = parse_config_text(
      "[pooler]\n"
      "auth_type = any\n"
      "[databases]\n"
      "forced = host=10.0.0.1 user=app password=secret\n"
      "open = host=10.0.0.1\n",
      "any.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kWarning);
  CHECK(d.line == 5);
  CHECK(d.key == "open");
  CHECK(d.message.find("forced user (user=)") != std::string::npos);
  CHECK(d.message.find("logins to database open are refused") != std::string::npos);
  CHECK(result.ok());
}

TEST_CASE("auth_type=any names the \"*\" entry's databases when it has no forced user") {
  LoadResult result =
      parse_config_text("[pooler]\nauth_type = any\n[databases]\n* = host=10.0.0.1\n", "star.ini");
  Diagnostic d = only(result.diagnostics);
  CHECK(d.key == "*");
  CHECK(d.message.find("databases served through \"*\"") != std::string::npos);
}

TEST_CASE("auth_type=any with a forced user everywhere, or another auth_type, says nothing") {
  for (const char* text : {"[pooler]\nauth_type = any\n[databases]\n"
                           "a = host=10.0.0.1 user=app\n* = host=10.0.0.2 user=app\n",
                           "[pooler]\nauth_type = trust\n[databases]\nopen = host=10.0.0.1\n"}) {
    LoadResult result = parse_config_text(text, "quiet.ini");
    INFO(render(result.diagnostics));
    CHECK(result.diagnostics.empty());
  }
}

}  // namespace
}  // namespace pooler::config
