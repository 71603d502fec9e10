// Where a pool's servers log in, derived from the config: used when the pool is created and
// again on reload, so both agree on what counts as a changed target.
#pragma once

#include <string>

#include "pooler/backend/server_connection.hpp"
#include "pooler/config/config.hpp"

namespace pooler::pool {

// The tcp_* settings as socket options, for both sides of the pooler.
net::TcpOptions tcp_options(const config::Settings& settings);

// The [databases] entry's host, port and dbname, logging in as `server_user` with the entry's
// password or the auth_file secret. A SCRAM verifier is no password: such logins need the
// client's own SCRAM keys, which the caller adds.
backend::ServerTarget server_target(const config::Config& config,
                                    const config::DatabaseEntry& database,
                                    const std::string& server_user);

}  // namespace pooler::pool
