// Session settings follow the client, not the server: what the last client set and this one
// did not is reset, what this one wants and the server lacks is set, and nothing else is sent.
#include "pooler/backend/session_settings.hpp"

#include <doctest/doctest.h>

using pooler::backend::ParameterSet;
using pooler::backend::session_settings_statements;

namespace {

ParameterSet settings(std::initializer_list<std::pair<const char*, const char*>> entries) {
  ParameterSet set;
  for (const auto& [name, value] : entries) set.set(name, value);
  return set;
}

}  // namespace

TEST_CASE("session settings in step need no statement") {
  CHECK(session_settings_statements({}, {}).empty());
  auto same = settings({{"search_path", "app"}, {"statement_timeout", "5s"}});
  CHECK(session_settings_statements(same, same).empty());
  // Names compare as PostgreSQL compares them.
  CHECK(session_settings_statements(settings({{"Search_Path", "app"}}),
                                    settings({{"search_path", "app"}}))
            .empty());
}

TEST_CASE("wanted settings go through set_config, which reads a list as a list") {
  CHECK(session_settings_statements(settings({{"search_path", "a, b"}}), {}) ==
        "SELECT pg_catalog.set_config(E'search_path', E'a, b', false);");
  CHECK(session_settings_statements(settings({{"statement_timeout", "5s"}, {"app.x", "1"}}),
                                    settings({{"statement_timeout", "1s"}})) ==
        "SELECT pg_catalog.set_config(E'statement_timeout', E'5s', false), "
        "pg_catalog.set_config(E'app.x', E'1', false);");
}

TEST_CASE("what an earlier client set and this one did not goes back to the default") {
  auto applied = settings({{"search_path", "app"}, {"lock_timeout", "1s"}});
  CHECK(session_settings_statements({}, applied) ==
        "RESET \"search_path\";RESET \"lock_timeout\";");
  CHECK(session_settings_statements(settings({{"lock_timeout", "2s"}}),
                                    settings({{"search_path", "app"}, {"lock_timeout", "1s"}})) ==
        "RESET \"search_path\";SELECT pg_catalog.set_config(E'lock_timeout', E'2s', false);");
}

TEST_CASE("no client value or name escapes its quotes") {
  std::string sql = session_settings_statements(
      settings({{"app.x", "'); DROP TABLE t; --"}, {"app.y", "a\\'b"}}), {});
  CHECK(sql == "SELECT pg_catalog.set_config(E'app.x', E'''); DROP TABLE t; --', false), "
               "pg_catalog.set_config(E'app.y', E'a\\\\''b', false);");
  CHECK(session_settings_statements({}, settings({{"we\"ird", "1"}})) == "RESET \"we\"\"ird\";");
}
