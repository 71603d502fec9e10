// Forwarding CancelRequests to the peer whose id their key carries.
#include "pooler/frontend/peer_cancels.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pooler/pool/server_target.hpp"
#include "pooler/protocol/cancel_key.hpp"

namespace pooler::frontend {

const char* PeerCancels::forward(const config::Config& config, int peer_id, std::int32_t pid,
                                 std::int32_t key, std::function<void()> on_done) {
  if (protocol::cancel_key_hops(key) == 0) {
    ++events_.peer_cancels_dropped;
    spdlog::info("cancel request for peer {} dropped: its TTL was exhausted", peer_id);
    return "failed to forward cancel request because its TTL was exhausted";
  }
  auto peer = config.peers.find(peer_id);
  if (peer == config.peers.end()) {
    ++events_.peer_cancels_dropped;
    spdlog::info("cancel request for unknown peer {} dropped", peer_id);
    return "could not find peer to forward request to";
  }
  if (config.settings.cancel_wait_timeout > 0) {
    expire(clock_.now(), util::seconds_to_duration(config.settings.cancel_wait_timeout));
  }
  // A peer's pool_size bounds the cancels on their way to it, as PgBouncer's peer pool does.
  int limit = peer->second.pool_size.value_or(config.settings.default_pool_size);
  if (int on_the_way = in_flight(peer_id); on_the_way >= std::max(limit, 1)) {
    ++events_.peer_cancels_dropped;
    spdlog::warn("cancel request for peer {} dropped: {} already on their way to it", peer_id,
                 on_the_way);
    return "too many cancel requests on their way to that peer";
  }
  spdlog::debug("forwarding cancel request to peer {}", peer_id);
  ++events_.peer_cancels_forwarded[peer_id];
  auto cancel = std::make_unique<backend::ServerCancel>(
      loop_, dns_, peer->second.host, peer->second.port, pool::tcp_options(config.settings), pid,
      protocol::spend_cancel_hop(key), clock_.now(),
      [this](backend::ServerCancel& done) { finished(done); });
  cancel->set_on_done(std::move(on_done));
  forwards_.push_back({peer_id, std::move(cancel)});
  return nullptr;
}

void PeerCancels::expire(util::TimePoint now, util::Duration limit) {
  std::vector<std::function<void()>> waiting;
  auto expired = [&](const Forward& f) {
    if (now - f.cancel->started() < limit) return false;
    spdlog::warn("cancel request forwarded to peer {} not answered in time (cancel_wait_timeout)",
                 f.peer_id);
    if (auto on_done = f.cancel->take_on_done()) waiting.push_back(std::move(on_done));
    return true;
  };
  forwards_.erase(std::remove_if(forwards_.begin(), forwards_.end(), expired), forwards_.end());
  for (auto& on_done : waiting) on_done();
}

int PeerCancels::in_flight(int peer_id) const {
  return static_cast<int>(std::count_if(forwards_.begin(), forwards_.end(),
                                        [&](const Forward& f) { return f.peer_id == peer_id; }));
}

void PeerCancels::finished(backend::ServerCancel& cancel) {
  auto it = std::find_if(forwards_.begin(), forwards_.end(),
                         [&](const Forward& f) { return f.cancel.get() == &cancel; });
  if (it == forwards_.end()) return;
  std::function<void()> on_done = cancel.take_on_done();
  forwards_.erase(it);  // ServerCancel touches nothing of itself after this callback
  if (on_done) on_done();
}

}  // namespace pooler::frontend
