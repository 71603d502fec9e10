// HostRotation: which of a database's hosts the next server connection goes to. PgBouncer's rule
// is a counter over the host list that load_balance_hosts=round-robin moves at every attempt and
// disable only after a failure. Beyond PgBouncer (its issue 872), each host's last failed connect
// or login is remembered: a host that failed within server_login_retry is passed over while
// another has not, and when every host has, the one that failed longest ago goes first.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "pooler/util/clock.hpp"

namespace pooler::pool {

class HostRotation {
 public:
  enum class Mode {
    kRoundRobin,  // each new connection goes to the next host
    kDisable,     // stay on one host until it fails
  };

  HostRotation(std::size_t hosts, Mode mode);

  std::size_t size() const { return failed_at_.size(); }
  Mode mode() const { return mode_; }
  void set_mode(Mode mode) { mode_ = mode; }

  // The host for the next connection attempt, which counts as made.
  std::size_t pick(util::TimePoint now, util::Duration retry);
  // A connection to `host` could not connect or log in.
  void failed(std::size_t host, util::TimePoint now);
  // A connection to `host` logged in: it is good again.
  void succeeded(std::size_t host);

  // `host` failed less than `retry` ago.
  bool failing(std::size_t host, util::TimePoint now, util::Duration retry) const;
  // Every host failed less than `retry` ago: none is worth a try yet.
  bool all_failing(util::TimePoint now, util::Duration retry) const;
  // Every host has failed since it last logged in (however long ago).
  bool all_failed() const;

 private:
  Mode mode_;
  std::size_t next_ = 0;  // PgBouncer's rrcounter, kept below size()
  std::vector<std::optional<util::TimePoint>> failed_at_;
};

}  // namespace pooler::pool
