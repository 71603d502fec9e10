// FIFO of waiting clients.
#include "pooler/pool/wait_queue.hpp"

namespace pooler::pool {

void WaitQueue::push(Waiter& waiter, util::TimePoint now) {
  if (contains(waiter)) return;
  entries_.push_back({&waiter, now});
  index_[&waiter] = std::prev(entries_.end());
}

bool WaitQueue::remove(Waiter& waiter) {
  auto it = index_.find(&waiter);
  if (it == index_.end()) return false;
  entries_.erase(it->second);
  index_.erase(it);
  return true;
}

std::optional<WaitQueue::Entry> WaitQueue::pop() {
  if (entries_.empty()) return std::nullopt;
  Entry e = entries_.front();
  entries_.pop_front();
  index_.erase(e.waiter);
  return e;
}

}  // namespace pooler::pool
