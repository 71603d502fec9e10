// HostRotation: PgBouncer's order over a host list, and failed hosts passed over until
// server_login_retry has gone by, with a manual clock.
#include "pooler/pool/host_rotation.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

using pooler::pool::HostRotation;
using pooler::util::ManualClock;
using namespace std::chrono_literals;

namespace {

constexpr auto kRetry = 15s;

std::vector<std::size_t> picks(HostRotation& rotation, const ManualClock& clock, int n) {
  std::vector<std::size_t> out;
  for (int i = 0; i < n; ++i)
    out.push_back(rotation.pick(clock.now(), kRetry));
  return out;
}

}  // namespace

TEST_CASE("round-robin gives each new connection the next host") {
  ManualClock clock;
  HostRotation rotation(3, HostRotation::Mode::kRoundRobin);
  CHECK(picks(rotation, clock, 7) == std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("disable stays on the first host until it fails, then stays on the next") {
  ManualClock clock;
  HostRotation rotation(3, HostRotation::Mode::kDisable);
  CHECK(picks(rotation, clock, 3) == std::vector<std::size_t>{0, 0, 0});
  rotation.failed(0, clock.now());
  CHECK(picks(rotation, clock, 2) == std::vector<std::size_t>{1, 1});
  // Host 0 has recovered by now, but disable does not go back to it while host 1 works.
  clock.advance(kRetry + 1s);
  CHECK(rotation.pick(clock.now(), kRetry) == 1);
  rotation.failed(1, clock.now());
  CHECK(rotation.pick(clock.now(), kRetry) == 2);
}

TEST_CASE("disable moves on once for several failures of the host in use") {
  ManualClock clock;
  HostRotation rotation(3, HostRotation::Mode::kDisable);
  // Three connections opened at once to host 0 all fail: PgBouncer's counter would move three
  // times and land back on 0.
  for (int i = 0; i < 3; ++i)
    CHECK(rotation.pick(clock.now(), kRetry) == 0);
  for (int i = 0; i < 3; ++i)
    rotation.failed(0, clock.now());
  CHECK(rotation.pick(clock.now(), kRetry) == 1);
}

TEST_CASE("a host that failed is passed over until server_login_retry has gone by") {
  ManualClock clock;
  HostRotation rotation(2, HostRotation::Mode::kRoundRobin);
  CHECK(rotation.pick(clock.now(), kRetry) == 0);
  rotation.failed(0, clock.now());
  CHECK(rotation.failing(0, clock.now(), kRetry));
  CHECK_FALSE(rotation.all_failing(clock.now(), kRetry));
  CHECK(picks(rotation, clock, 4) == std::vector<std::size_t>{1, 1, 1, 1});
  clock.advance(kRetry - 1s);
  CHECK(rotation.pick(clock.now(), kRetry) == 1);
  clock.advance(1s);
  CHECK_FALSE(rotation.failing(0, clock.now(), kRetry));
  // Retried now, and on its turn again if it is good.
  CHECK(picks(rotation, clock, 3) == std::vector<std::size_t>{0, 1, 0});
}

TEST_CASE("round-robin over three hosts with one failing shares between the other two") {
  ManualClock clock;
  HostRotation rotation(3, HostRotation::Mode::kRoundRobin);
  rotation.failed(1, clock.now());
  CHECK(picks(rotation, clock, 6) == std::vector<std::size_t>{0, 2, 0, 2, 0, 2});
}

TEST_CASE("when every host is failing the one that failed longest ago goes first") {
  ManualClock clock;
  HostRotation rotation(3, HostRotation::Mode::kRoundRobin);
  rotation.failed(1, clock.now());
  clock.advance(1s);
  rotation.failed(2, clock.now());
  clock.advance(1s);
  rotation.failed(0, clock.now());
  CHECK(rotation.all_failing(clock.now(), kRetry));
  CHECK(rotation.all_failed());
  CHECK(rotation.pick(clock.now(), kRetry) == 1);
  // Its retry comes first too: 15 s after its failure it is the one not failing any more.
  clock.advance(kRetry - 2s);
  CHECK_FALSE(rotation.all_failing(clock.now(), kRetry));
  CHECK(rotation.pick(clock.now(), kRetry) == 1);
}

TEST_CASE("a login clears the host's failure") {
  ManualClock clock;
  HostRotation rotation(2, HostRotation::Mode::kDisable);
  rotation.failed(0, clock.now());
  rotation.failed(1, clock.now());
  CHECK(rotation.all_failed());
  rotation.succeeded(1);
  CHECK_FALSE(rotation.all_failed());
  CHECK_FALSE(rotation.all_failing(clock.now(), kRetry));
  CHECK(rotation.pick(clock.now(), kRetry) == 1);
}

TEST_CASE("one host is always the one picked, failing or not") {
  ManualClock clock;
  HostRotation rotation(1, HostRotation::Mode::kRoundRobin);
  CHECK(rotation.pick(clock.now(), kRetry) == 0);
  rotation.failed(0, clock.now());
  CHECK(rotation.all_failing(clock.now(), kRetry));
  CHECK(rotation.pick(clock.now(), kRetry) == 0);
  clock.advance(kRetry);
  CHECK_FALSE(rotation.all_failing(clock.now(), kRetry));
}

TEST_CASE("server_login_retry = 0 holds no host back") {
  ManualClock clock;
  HostRotation rotation(2, HostRotation::Mode::kRoundRobin);
  rotation.failed(0, clock.now());
  CHECK_FALSE(rotation.failing(0, clock.now(), 0s));
  CHECK(rotation.pick(clock.now(), 0s) == 0);
}
