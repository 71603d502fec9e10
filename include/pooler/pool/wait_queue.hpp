// WaitQueue: clients waiting for a server, first come first served, with O(1) removal when a
// waiter gives up.
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <unordered_map>

#include "pooler/pool/waiter.hpp"
#include "pooler/util/clock.hpp"

namespace pooler::pool {

class WaitQueue {
 public:
  struct Entry {
    Waiter* waiter;
    util::TimePoint since;
  };

  void push(Waiter& waiter, util::TimePoint now);
  // Removes the waiter if queued; returns whether it was.
  bool remove(Waiter& waiter);
  std::optional<Entry> pop();
  const Entry* front() const { return entries_.empty() ? nullptr : &entries_.front(); }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  bool contains(const Waiter& waiter) const { return index_.count(&waiter) != 0; }

 private:
  std::list<Entry> entries_;
  std::unordered_map<const Waiter*, std::list<Entry>::iterator> index_;
};

}  // namespace pooler::pool
