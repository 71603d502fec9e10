// Alert evaluation: each rule computes one value per subject, then the shared state machine
// (threshold held for `for` -> firing; below resolve_threshold -> resolved) decides.
#include "pooler/alerts/engine.hpp"

namespace pooler::alerts {

Engine::Track& Engine::track(const std::string& rule, const std::string& database,
                             const std::string& user) {
  return tracks_[Key{rule, database, user}];
}

double Engine::windowed(Track& track, std::uint64_t total, util::TimePoint now) {
  // A pool seen for the first time was created since the last evaluation: its events are new.
  if (track.history.empty()) track.history.emplace_back(now, 0);
  track.history.emplace_back(now, total);
  // Keep the newest sample at or before the window's start as the baseline.
  while (track.history.size() > 1 && now - track.history[1].first >= kEventWindow) {
    track.history.pop_front();
  }
  std::uint64_t base = track.history.front().second;
  return total >= base ? static_cast<double>(total - base) : static_cast<double>(total);
}

void Engine::observe(const config::AlertRuleSettings& rule, const std::string& database,
                     const std::string& user, double value, util::TimePoint now, WallTime wall,
                     std::vector<Alert>& changes) {
  Track& t = track(rule.name, database, user);
  t.seen = true;
  Alert& a = t.alert;
  a.name = rule.name;
  a.database = database;
  a.user = user;
  a.severity = rule.severity;
  a.value = value;
  a.threshold = rule.threshold;
  if (a.firing) {
    if (value < rule.resolve_below()) {
      a.firing = false;
      a.ends_at = wall;
      t.pending = false;
      changes.push_back(a);
    }
    return;
  }
  if (value < rule.threshold) {
    t.pending = false;
    return;
  }
  if (!t.pending) {
    t.pending = true;
    t.pending_since = now;
  }
  if (now - t.pending_since >= util::seconds_to_duration(rule.for_seconds)) {
    a.firing = true;
    a.starts_at = wall;
    a.ends_at = {};
    t.ever_fired = true;
    changes.push_back(a);
  }
}

std::vector<Alert> Engine::evaluate(const std::vector<config::AlertRuleSettings>& rules,
                                    const metrics::Sample& sample, util::TimePoint now,
                                    WallTime wall) {
  std::vector<Alert> changes;
  for (auto& [key, t] : tracks_) t.seen = false;
  for (const config::AlertRuleSettings& rule : rules) {
    if (!rule.enabled) continue;
    const std::string& name = rule.name;
    for (const metrics::PoolSample& p : sample.pools) {
      double value = 0;
      if (name == "PoolSaturated") {
        value = p.utilization();
      } else if (name == "ClientsWaiting") {
        value = p.client_waiting > 0 ? p.maxwait_seconds : 0;
      } else if (name == "WaitTimeoutsHappening") {
        value = windowed(track(name, p.database, p.user), p.stats.query_wait_timeouts, now);
      } else if (name == "ServerLoginFailing") {
        Track& t = track(name, p.database, p.user);
        // A login that succeeded since the last look ends the failing streak.
        if (p.stats.server_login_count != t.last_successes) {
          t.last_successes = p.stats.server_login_count;
          t.history.assign(1, {now, p.stats.server_login_failures});
        }
        value = windowed(t, p.stats.server_login_failures, now);
      } else {
        continue;
      }
      observe(rule, p.database, p.user, value, now, wall, changes);
    }
    const metrics::ProcessSample& proc = sample.process;
    if (name == "ClientConnectionsNearLimit" && proc.max_client_conn > 0) {
      observe(rule, "", "", static_cast<double>(proc.clients) / proc.max_client_conn, now, wall,
              changes);
    } else if (name == "FileDescriptorsNearLimit" && proc.max_fds > 0) {
      observe(rule, "", "", static_cast<double>(proc.open_fds) / static_cast<double>(proc.max_fds),
              now, wall, changes);
    }
  }
  // A subject gone (pool removed, rule disabled) resolves what it had firing.
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    Track& t = it->second;
    if (!t.seen && t.alert.firing) {
      t.alert.firing = false;
      t.alert.ends_at = wall;
      changes.push_back(t.alert);
    }
    if (!t.seen && !t.ever_fired) {
      it = tracks_.erase(it);
    } else {
      ++it;
    }
  }
  return changes;
}

std::vector<Alert> Engine::firing() const {
  std::vector<Alert> out;
  for (const auto& [key, t] : tracks_) {
    if (t.alert.firing) out.push_back(t.alert);
  }
  return out;
}

std::vector<Alert> Engine::known() const {
  std::vector<Alert> out;
  for (const auto& [key, t] : tracks_) {
    if (t.ever_fired) out.push_back(t.alert);
  }
  return out;
}

}  // namespace pooler::alerts
