// Suspension: walks a snapshot of the members, since a member may leave while being told.
#include "pooler/net/suspension.hpp"

#include <vector>

namespace pooler::net {

void Suspension::hold() {
  held_ = true;
  notify_all();
}

void Suspension::release() {
  held_ = false;
  notify_all();
}

void Suspension::notify_all() {
  std::vector<Member*> members(members_.begin(), members_.end());
  for (Member* m : members) m->on_suspension_changed();
}

std::size_t Suspension::unsent_bytes() const {
  std::size_t total = 0;
  for (const Member* m : members_) {
    if (!m->exempt()) total += m->unsent_bytes();
  }
  return total;
}

std::size_t Suspension::drop_unflushed() {
  std::vector<Member*> stuck;
  for (Member* m : members_) {
    if (!m->exempt() && m->unsent_bytes() > 0) stuck.push_back(m);
  }
  for (Member* m : stuck) m->drop();
  return stuck.size();
}

}  // namespace pooler::net
