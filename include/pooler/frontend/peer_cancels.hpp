// PeerCancels: the cancel requests this pooler passes on to its peers (PgBouncer 1.19+ peering).
// Behind a load balancer a CancelRequest lands on any replica; its key names the replica that
// issued it, and the one it landed on forwards it there, one hop spent, so the query stops
// wherever it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "pooler/backend/server_cancel.hpp"
#include "pooler/config/config.hpp"
#include "pooler/metrics/events.hpp"
#include "pooler/net/dns_cache.hpp"
#include "pooler/net/loop.hpp"
#include "pooler/util/clock.hpp"

namespace pooler::frontend {

class PeerCancels {
 public:
  PeerCancels(net::Loop& loop, net::DnsCache& dns, const util::Clock& clock,
              metrics::Events& events)
      : loop_(loop), dns_(dns), clock_(clock), events_(events) {}
  PeerCancels(const PeerCancels&) = delete;
  PeerCancels& operator=(const PeerCancels&) = delete;

  // Sends the request for (pid, key), issued by `peer_id`, on to that peer; `on_done` runs once
  // the peer has closed the connection (it answers as PostgreSQL does). nullptr when it is on
  // its way, else why it was dropped (PgBouncer's words), and `on_done` is not kept.
  const char* forward(const config::Config& config, int peer_id, std::int32_t pid,
                      std::int32_t key, std::function<void()> on_done);

  // Requests on their way to `peer_id` now (SHOW PEER_POOLS).
  int in_flight(int peer_id) const;
  // Gives up on forwards older than `limit` (cancel_wait_timeout): a peer that never closes
  // must not hold its requesters, or its pool_size, for ever. The requesters are told.
  void expire(util::TimePoint now, util::Duration limit);

 private:
  struct Forward {
    int peer_id = 0;
    std::unique_ptr<backend::ServerCancel> cancel;
  };
  void finished(backend::ServerCancel& cancel);

  net::Loop& loop_;
  net::DnsCache& dns_;
  const util::Clock& clock_;
  metrics::Events& events_;
  std::vector<Forward> forwards_;
};

}  // namespace pooler::frontend
