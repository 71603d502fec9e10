// Mailbox: tasks posted from other threads run on the loop's thread, in order; a closed mailbox
// refuses them.
#include "pooler/net/mailbox.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "loop_threads.hpp"

using pooler::net::Loop;
using pooler::net::Mailbox;
using pooler::net::MailboxAddress;
using pooler::net::testing::run_until;

TEST_CASE("tasks posted from two threads all run on the loop's thread, each thread's in order") {
  Loop loop;
  Mailbox mailbox(loop);
  constexpr int kPerThread = 2000;
  std::vector<int> seen[2];
  std::thread::id ran_on;
  bool other_thread = false;
  std::atomic<int> refused{0};  // counted, not CHECKed: the producers are other threads
  auto producer = [&](int which) {
    MailboxAddress address = mailbox.address();
    for (int i = 0; i < kPerThread; ++i) {
      bool posted = address.post([&, which, i] {
        if (std::this_thread::get_id() != ran_on) other_thread = true;
        seen[which].push_back(i);
      });
      if (!posted) ++refused;
    }
  };
  ran_on = std::this_thread::get_id();
  std::thread first(producer, 0);
  std::thread second(producer, 1);
  bool all = run_until(loop, [&] {
    return seen[0].size() == kPerThread && seen[1].size() == kPerThread;
  });
  first.join();
  second.join();
  CHECK(refused == 0);
  REQUIRE(all);
  CHECK_FALSE(other_thread);
  for (const auto& list : seen) {
    for (int i = 0; i < kPerThread; ++i) REQUIRE(list[static_cast<std::size_t>(i)] == i);
  }
  mailbox.close();
  loop.drain();
}

TEST_CASE("a closed mailbox refuses posts, and tasks it never ran are dropped, not run") {
  Loop loop;
  int ran = 0;
  MailboxAddress address;
  {
    Mailbox mailbox(loop);
    address = mailbox.address();
    CHECK(address.post([&] { ++ran; }));
  }
  // The mailbox is gone but its address is still safe to use.
  CHECK_FALSE(address.post([&] { ++ran; }));
  loop.drain();
  CHECK(ran == 0);
  CHECK_FALSE(MailboxAddress().post([] {}));
}
