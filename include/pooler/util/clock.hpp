// Clock: the one source of "now" for timeouts, so pool decisions can be tested with ManualClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace pooler::util {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(Duration by) { now_ += by; }

 private:
  TimePoint now_{};
};

// Seconds as configured (floats allowed, as in PgBouncer) to a clock duration; 0 stays 0.
inline Duration seconds_to_duration(double seconds) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

inline double duration_to_seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// Microseconds, the unit PgBouncer's console and stats report.
inline std::int64_t duration_to_micros(Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace pooler::util
