// The `options` startup parameter, read as PostgreSQL reads it.
#include "pooler/protocol/startup_options.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using pooler::protocol::parse_startup_options;
using Settings = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("options: -c name=value, -cname=value and --name=value are settings") {
  auto parsed = parse_startup_options("-c search_path=app -cstatement_timeout=5s --work_mem=64MB");
  CHECK(parsed.error.empty());
  CHECK(parsed.settings == Settings{{"search_path", "app"},
                                    {"statement_timeout", "5s"},
                                    {"work_mem", "64MB"}});
}

TEST_CASE("options: dashes in a name are underscores, as PostgreSQL reads them") {
  auto parsed =
      parse_startup_options("--lock-timeout=1s -c idle-in-transaction-session-timeout=2s");
  CHECK(parsed.settings == Settings{{"lock_timeout", "1s"},
                                    {"idle_in_transaction_session_timeout", "2s"}});
}

TEST_CASE("options: a backslash keeps the next character, spaces included") {
  auto parsed = parse_startup_options(R"(-c search_path=a,\ b   -c app.note=x\\y)");
  CHECK(parsed.error.empty());
  CHECK(parsed.settings == Settings{{"search_path", "a, b"}, {"app.note", R"(x\y)"}});
}

TEST_CASE("options: a value may hold '=' and may be empty") {
  auto parsed = parse_startup_options("-c app.expr=a=b --app.empty=");
  CHECK(parsed.settings == Settings{{"app.expr", "a=b"}, {"app.empty", ""}});
}

TEST_CASE("options: empty or blank options set nothing") {
  CHECK(parse_startup_options("").settings.empty());
  CHECK(parse_startup_options("  \t ").settings.empty());
  CHECK(parse_startup_options("   ").error.empty());
}

TEST_CASE("options: a setting without a value is refused with PostgreSQL's words") {
  CHECK(parse_startup_options("-c search_path").error == "-c search_path requires a value");
  CHECK(parse_startup_options("--work_mem").error == "--work_mem requires a value");
  CHECK(parse_startup_options("-c").error == "-c requires a value");
  CHECK(parse_startup_options("-c =x").error == "-c =x requires a value");
}

TEST_CASE("options: other server switches are refused, not silently dropped") {
  auto parsed = parse_startup_options("-c a.b=1 -B 100");
  CHECK(parsed.error == "unsupported startup option: -B");
  CHECK(parse_startup_options("search_path=x").error ==
        "unsupported startup option: search_path=x");
  CHECK(parse_startup_options("--").error == "unsupported startup option: --");
}
