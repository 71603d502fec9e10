// Suspension: what SUSPEND holds, what it waits for, and what suspend_timeout drops.
#include "pooler/net/suspension.hpp"

#include <doctest/doctest.h>

#include <initializer_list>

namespace {

using pooler::net::Suspension;

struct FakeStream final : Suspension::Member {
  std::size_t queued = 0;
  bool is_exempt = false;
  int changes = 0;
  bool dropped = false;
  void on_suspension_changed() override { ++changes; }
  std::size_t unsent_bytes() const override { return queued; }
  bool exempt() const override { return is_exempt; }
  void drop() override { dropped = true; }
};

}  // namespace

TEST_CASE("SUSPEND waits only for the output of streams that are not exempt") {
  Suspension suspension;
  FakeStream client, console;
  console.is_exempt = true;
  client.queued = 10;
  console.queued = 99;
  suspension.join(&client);
  suspension.join(&console);
  suspension.hold();
  CHECK(suspension.held());
  CHECK(client.changes == 1);
  CHECK(suspension.unsent_bytes() == 10);
  client.queued = 0;
  CHECK(suspension.unsent_bytes() == 0);
  suspension.release();
  CHECK_FALSE(suspension.held());
  CHECK(client.changes == 2);
}

TEST_CASE("suspend_timeout drops only the streams that could not flush") {
  Suspension suspension;
  FakeStream stuck, flushed, console;
  stuck.queued = 5;
  console.queued = 5;
  console.is_exempt = true;
  for (auto* s : {&stuck, &flushed, &console}) suspension.join(s);
  suspension.hold();
  CHECK(suspension.drop_unflushed() == 1);
  CHECK(stuck.dropped);
  CHECK_FALSE(flushed.dropped);
  CHECK_FALSE(console.dropped);
  suspension.leave(&stuck);
  CHECK(suspension.unsent_bytes() == 0);
}

TEST_CASE("streams leave the suspension from the front, the middle and the back") {
  Suspension suspension;
  FakeStream a, b, c, d;
  a.queued = 1;
  b.queued = 2;
  c.queued = 4;
  d.queued = 8;
  for (auto* s : {&a, &b, &c, &d}) suspension.join(s);
  CHECK(suspension.unsent_bytes() == 15);
  suspension.leave(&b);  // the middle
  CHECK(suspension.unsent_bytes() == 13);
  suspension.leave(&d);  // the last to join: the front
  CHECK(suspension.unsent_bytes() == 5);
  suspension.leave(&a);  // the back
  CHECK(suspension.unsent_bytes() == 4);
  suspension.hold();
  CHECK(c.changes == 1);
  CHECK(a.changes == 0);
  suspension.leave(&c);
  CHECK(suspension.unsent_bytes() == 0);
  suspension.release();
  CHECK(c.changes == 1);
}
