// Client counts per database and user, and PgBouncer's refusals when a limit is passed.
#include "pooler/frontend/client_limits.hpp"

#include <doctest/doctest.h>

#include <string>

namespace pooler::frontend {
namespace {

TEST_CASE("client limits: the limit is how many may connect, the refused one counted until gone") {
  ClientLimits limits;
  CHECK(limits.join("app", "alice", 2, 0, false) == ClientLimitExceeded::kNone);
  CHECK(limits.join("app", "bob", 2, 0, false) == ClientLimitExceeded::kNone);
  CHECK(limits.join("app", "carol", 2, 0, false) == ClientLimitExceeded::kDatabase);
  CHECK(limits.database_clients("app") == 3);
  limits.leave("app", "carol");
  CHECK(limits.database_clients("app") == 2);
  CHECK(limits.join("other", "carol", 2, 0, false) == ClientLimitExceeded::kNone);
  limits.leave("app", "bob");
  CHECK(limits.join("app", "dave", 2, 0, false) == ClientLimitExceeded::kNone);
}

TEST_CASE("client limits: per user across databases; 0 is no limit; exempt is never refused") {
  ClientLimits limits;
  CHECK(limits.join("a", "alice", 0, 1, false) == ClientLimitExceeded::kNone);
  CHECK(limits.join("b", "alice", 0, 1, false) == ClientLimitExceeded::kUser);
  CHECK(limits.user_clients("alice") == 2);
  CHECK(limits.join("pgbouncer", "alice", 1, 1, true) == ClientLimitExceeded::kNone);
  CHECK(limits.user_clients("alice") == 3);
  for (int i = 0; i < 3; ++i) limits.leave("x", "alice");
  CHECK(limits.user_clients("alice") == 0);
  CHECK(limits.user_clients("nobody") == 0);
  limits.leave("never", "joined");  // harmless
  CHECK(std::string(client_limit_message(ClientLimitExceeded::kDatabase)) ==
        "client connections exceeded (max_db_client_connections)");
  CHECK(std::string(client_limit_message(ClientLimitExceeded::kUser)) ==
        "client connections exceeded (max_user_client_connections)");
}

}  // namespace
}  // namespace pooler::frontend
