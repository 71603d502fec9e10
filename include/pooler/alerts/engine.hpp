// Engine: the pooler's saturation alerts. evaluate() is a pure step over the rules, one metrics
// Sample and the time: no I/O, so it is tested with a manual clock. Each alert is one rule for
// one subject (a pool, or the whole process), and goes pending -> firing -> resolved.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "pooler/config/alert_rules.hpp"
#include "pooler/metrics/sample.hpp"
#include "pooler/util/clock.hpp"

namespace pooler::alerts {

using WallTime = std::chrono::system_clock::time_point;

struct Alert {
  std::string name;
  std::string database;  // empty for process-wide alerts
  std::string user;
  std::string severity;
  double value = 0;
  double threshold = 0;
  bool firing = false;
  WallTime starts_at{};  // when it fired; the same in every message about this firing
  WallTime ends_at{};    // when it resolved (firing: unset)
};

class Engine {
 public:
  // One evaluation: returns the alerts that fired or resolved now, each exactly once.
  std::vector<Alert> evaluate(const std::vector<config::AlertRuleSettings>& rules,
                              const metrics::Sample& sample, util::TimePoint now, WallTime wall);
  // Alerts firing now, with their latest values.
  std::vector<Alert> firing() const;
  // Every alert that has fired since start, firing or resolved (for pooler_alert_firing).
  std::vector<Alert> known() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // rule, database, user
  struct Track {
    Alert alert;
    bool pending = false;
    util::TimePoint pending_since{};
    bool seen = false;  // observed in this evaluation
    bool ever_fired = false;
    // (time, running total) samples for the rules that count events over a window.
    std::deque<std::pair<util::TimePoint, std::uint64_t>> history;
    std::uint64_t last_successes = 0;
  };

  void observe(const config::AlertRuleSettings& rule, const std::string& database,
               const std::string& user, double value, util::TimePoint now, WallTime wall,
               std::vector<Alert>& changes);
  // The increase of `total` over the last window, from the track's history.
  double windowed(Track& track, std::uint64_t total, util::TimePoint now);
  Track& track(const std::string& rule, const std::string& database, const std::string& user);

  std::map<Key, Track> tracks_;
};

// The fixed window of the rules that count events ("in the last minute").
inline constexpr std::chrono::seconds kEventWindow{60};

}  // namespace pooler::alerts
