// Sends one CancelRequest to a PostgreSQL server on a fresh connection, as the protocol asks.
#pragma once

#include <cstdint>
#include <string>

#include "pooler/net/loop.hpp"

namespace pooler::frontend {

void forward_cancel(net::Loop& loop, const std::string& host, int port, std::int32_t pid,
                    std::int32_t key);

}  // namespace pooler::frontend
