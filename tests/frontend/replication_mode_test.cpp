// The startup packet's `replication` value, read as PostgreSQL reads it.
#include <doctest/doctest.h>

#include "pooler/frontend/replication_link.hpp"

namespace pooler::frontend {
namespace {

TEST_CASE("replication: database is logical, a true boolean physical, a false one none") {
  for (const char* value : {"database", "DATABASE"}) {
    CHECK(parse_replication_mode(value) == ReplicationMode::kLogical);
  }
  // parse_bool's spellings, abbreviations included ("o" alone is ambiguous).
  for (const char* value : {"true", "on", "yes", "1", "TRUE", "On", "t", "tr", "y"}) {
    CAPTURE(value);
    CHECK(parse_replication_mode(value) == ReplicationMode::kPhysical);
  }
  for (const char* value : {"false", "off", "no", "0", "False", "f", "of", "n"}) {
    CAPTURE(value);
    CHECK(parse_replication_mode(value) == ReplicationMode::kNone);
  }
  for (const char* value : {"", "o", "sometimes", "2", "databases", "data", "truex", " true"}) {
    CAPTURE(value);
    CHECK_FALSE(parse_replication_mode(value).has_value());
  }
}

TEST_CASE("replication: SHOW CLIENTS words") {
  CHECK(std::string(replication_word(ReplicationMode::kNone)) == "none");
  CHECK(std::string(replication_word(ReplicationMode::kPhysical)) == "physical");
  CHECK(std::string(replication_word(ReplicationMode::kLogical)) == "logical");
}

}  // namespace
}  // namespace pooler::frontend
