// WaitQueue: clients are served first come first served, can leave from anywhere in the line, and
// remember when they started waiting (for query_wait_timeout).
#include "pooler/pool/wait_queue.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "pooler/util/clock.hpp"

using pooler::pool::ServerLease;
using pooler::pool::Waiter;
using pooler::pool::WaitQueue;
using pooler::util::ManualClock;
using namespace std::chrono_literals;

namespace {

class FakeWaiter final : public Waiter {
 public:
  void on_server_granted(ServerLease) override {}
  void on_wait_failed(const std::string&, const std::string&) override {}
};

std::vector<Waiter*> drain(WaitQueue& queue) {
  std::vector<Waiter*> out;
  while (auto entry = queue.pop()) {
    out.push_back(entry->waiter);
  }
  return out;
}

}  // namespace

TEST_CASE("an empty wait queue has no front and pops nothing") {
  WaitQueue queue;
  CHECK(queue.empty());
  CHECK(queue.size() == 0);
  CHECK(queue.front() == nullptr);
  CHECK_FALSE(queue.pop().has_value());
}

TEST_CASE("waiters are served in the order they arrived") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b, c;
  queue.push(a, clock.now());
  queue.push(b, clock.now());
  queue.push(c, clock.now());
  CHECK(queue.size() == 3);
  CHECK(drain(queue) == std::vector<Waiter*>{&a, &b, &c});
  CHECK(queue.empty());
}

TEST_CASE("a waiter removed from the middle leaves the others in order") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b, c;
  queue.push(a, clock.now());
  queue.push(b, clock.now());
  queue.push(c, clock.now());
  CHECK(queue.remove(b));
  CHECK_FALSE(queue.contains(b));
  CHECK(queue.size() == 2);
  CHECK(drain(queue) == std::vector<Waiter*>{&a, &c});
}

TEST_CASE("removing a waiter that is not queued reports false and changes nothing") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b;
  queue.push(a, clock.now());
  CHECK_FALSE(queue.remove(b));
  CHECK(queue.remove(a));
  CHECK_FALSE(queue.remove(a));
  CHECK(queue.empty());
}

TEST_CASE("contains tells whether a waiter is queued, and a popped waiter is not") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b;
  CHECK_FALSE(queue.contains(a));
  queue.push(a, clock.now());
  queue.push(b, clock.now());
  CHECK(queue.contains(a));
  CHECK(queue.contains(b));
  queue.pop();
  CHECK_FALSE(queue.contains(a));
  CHECK(queue.contains(b));
}

TEST_CASE("pushing a waiter already queued keeps its place and its start time") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b;
  queue.push(a, clock.now());
  auto first = clock.now();
  clock.advance(2s);
  queue.push(b, clock.now());
  clock.advance(3s);
  queue.push(a, clock.now());
  CHECK(queue.size() == 2);
  REQUIRE(queue.front() != nullptr);
  CHECK(queue.front()->waiter == &a);
  CHECK(queue.front()->since == first);
  CHECK(drain(queue) == std::vector<Waiter*>{&a, &b});
}

TEST_CASE("each entry records the time it was pushed with") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b;
  clock.advance(10s);
  auto a_since = clock.now();
  queue.push(a, a_since);
  clock.advance(1500ms);
  auto b_since = clock.now();
  queue.push(b, b_since);
  clock.advance(1h);
  REQUIRE(queue.front() != nullptr);
  CHECK(queue.front()->since == a_since);
  CHECK(clock.now() - queue.front()->since == 1h + 1500ms);
  auto popped = queue.pop();
  REQUIRE(popped.has_value());
  CHECK(popped->since == a_since);
  REQUIRE(queue.front() != nullptr);
  CHECK(queue.front()->waiter == &b);
  CHECK(queue.front()->since == b_since);
}

TEST_CASE("a waiter can queue again after being served") {
  ManualClock clock;
  WaitQueue queue;
  FakeWaiter a, b;
  queue.push(a, clock.now());
  queue.push(b, clock.now());
  queue.pop();
  queue.push(a, clock.now());
  CHECK(drain(queue) == std::vector<Waiter*>{&b, &a});
}

TEST_CASE("many waiters removed in arbitrary order leave the rest in arrival order") {
  ManualClock clock;
  WaitQueue queue;
  std::vector<FakeWaiter> waiters(50);
  for (auto& w : waiters) {
    queue.push(w, clock.now());
    clock.advance(1ms);
  }
  std::vector<Waiter*> expected;
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    if (i % 3 == 0) {
      CHECK(queue.remove(waiters[i]));
    } else {
      expected.push_back(&waiters[i]);
    }
  }
  CHECK(queue.size() == expected.size());
  CHECK(drain(queue) == expected);
}
