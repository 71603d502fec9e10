// CommandComplete tags the pooler acts on: which ones drop every prepared statement, and which
// one puts every session setting back to its default.
#include <doctest/doctest.h>

#include <string>

#include "pooler/protocol/reply_filter.hpp"
#include "pooler/util/bytes.hpp"

using pooler::protocol::drops_all_statements;
using pooler::protocol::resets_all_settings;

namespace {

// A CommandComplete body: the tag and its terminating NUL.
std::string tag(const char* text) { return std::string(text) + '\0'; }

}  // namespace

TEST_CASE("DISCARD ALL and DEALLOCATE ALL drop every prepared statement") {
  CHECK(drops_all_statements(pooler::util::as_bytes(tag("DISCARD ALL"))));
  CHECK(drops_all_statements(pooler::util::as_bytes(tag("DEALLOCATE ALL"))));
  CHECK_FALSE(drops_all_statements(pooler::util::as_bytes(tag("DEALLOCATE"))));
  CHECK_FALSE(drops_all_statements(pooler::util::as_bytes(tag("SELECT 1"))));
  CHECK_FALSE(drops_all_statements(pooler::util::as_bytes(std::string())));
}

TEST_CASE("only DISCARD ALL tells that every setting is back to its default") {
  CHECK(resets_all_settings(pooler::util::as_bytes(tag("DISCARD ALL"))));
  // RESET ALL and RESET one_setting share the tag "RESET": it cannot say which it was.
  CHECK_FALSE(resets_all_settings(pooler::util::as_bytes(tag("RESET"))));
  CHECK_FALSE(resets_all_settings(pooler::util::as_bytes(tag("DEALLOCATE ALL"))));
  CHECK_FALSE(resets_all_settings(pooler::util::as_bytes(tag("SET"))));
}
