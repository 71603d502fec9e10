// When a pool may be forgotten (its auto-database idle past autodb_idle_timeout): clients hold
// raw Pool pointers and servers call back into their pool, so only a pool nothing refers to any
// more can go.
#pragma once

#include "pooler/pool/pool.hpp"

namespace pooler::pool {

// No client is attached or waiting, and no server is busy with work a client left behind (a
// request still running or being cancelled, a reset, a cancel in flight). Destroying the pool
// then closes only idle servers and servers still logging in.
bool can_forget(const Pool& pool);

}  // namespace pooler::pool
