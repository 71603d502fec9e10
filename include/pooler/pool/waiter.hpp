// Waiter: what the pool needs from a client that asked for a server. frontend implements it, so
// pool never depends on frontend.
#pragma once

#include <string>

#include "pooler/pool/server_lease.hpp"

namespace pooler::pool {

class Waiter {
 public:
  virtual ~Waiter() = default;
  // A server is now leased to this waiter.
  virtual void on_server_granted(ServerLease lease) = 0;
  // The wait ended without a server (timeout, login failure, pool closing).
  virtual void on_wait_failed(const std::string& sqlstate, const std::string& message) = 0;
};

}  // namespace pooler::pool
