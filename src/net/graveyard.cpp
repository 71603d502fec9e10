// Deferred destruction through one zero-delay callback per batch.
#include "pooler/net/graveyard.hpp"

#include "pooler/net/defer.hpp"

namespace pooler::net {

Graveyard::Graveyard(Loop& loop) : loop_(loop) {}

Graveyard::~Graveyard() {
  *alive_ = false;
  // Destroying the dead may bury more (a client releasing its server); drain until quiet.
  while (!dead_.empty()) {
    auto batch = std::move(dead_);
    dead_.clear();
  }
}

void Graveyard::schedule() {
  if (scheduled_) return;
  scheduled_ = true;
  defer(loop_, [this, alive = alive_] {
    if (!*alive) return;
    scheduled_ = false;
    while (!dead_.empty()) {
      auto batch = std::move(dead_);
      dead_.clear();
    }
  });
}

}  // namespace pooler::net
