// Suspension: walks a snapshot of the members, since a member may leave while being told.
#include "pooler/net/suspension.hpp"

#include <vector>

namespace pooler::net {

void Suspension::join(Member* member) {
  member->prev_ = nullptr;
  member->next_ = first_;
  if (first_ != nullptr) first_->prev_ = member;
  first_ = member;
}

void Suspension::leave(Member* member) {
  if (member->prev_ != nullptr) {
    member->prev_->next_ = member->next_;
  } else if (first_ == member) {
    first_ = member->next_;
  }
  if (member->next_ != nullptr) member->next_->prev_ = member->prev_;
  member->prev_ = member->next_ = nullptr;
}

void Suspension::hold() {
  held_ = true;
  notify_all();
}

void Suspension::release() {
  held_ = false;
  notify_all();
}

void Suspension::notify_all() {
  std::vector<Member*> members;
  for_each([&](Member* m) { members.push_back(m); });
  for (Member* m : members) m->on_suspension_changed();
}

std::size_t Suspension::unsent_bytes() const {
  std::size_t total = 0;
  for_each([&](const Member* m) {
    if (!m->exempt()) total += m->unsent_bytes();
  });
  return total;
}

std::size_t Suspension::drop_unflushed() {
  std::vector<Member*> stuck;
  for_each([&](Member* m) {
    if (!m->exempt() && m->unsent_bytes() > 0) stuck.push_back(m);
  });
  for (Member* m : stuck) m->drop();
  return stuck.size();
}

}  // namespace pooler::net
