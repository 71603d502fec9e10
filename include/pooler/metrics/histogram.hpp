// LatencyHistogram: a fixed-bucket duration histogram kept as plain integers on the loop (no
// locks, no allocation), exported as a Prometheus histogram. PgBouncer reports only averages;
// these give operators percentiles.
#pragma once

#include <array>
#include <cstdint>

namespace pooler::metrics {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds, 100 us to 60 s; one more bucket catches everything above.
  static constexpr std::array<std::uint64_t, 18> kBoundsUs = {
      100,    250,    500,     1000,    2500,    5000,     10000,    25000,    50000,
      100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
  static constexpr std::size_t kBuckets = kBoundsUs.size() + 1;

  void observe_us(std::uint64_t us) {
    std::size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    ++counts_[i];
    sum_us_ += us;
  }

  // Observations in bucket i alone (not cumulative); i == kBoundsUs.size() is above 60 s.
  std::uint64_t bucket(std::size_t i) const { return counts_[i]; }
  std::uint64_t count() const;
  std::uint64_t sum_us() const { return sum_us_; }

  LatencyHistogram& operator+=(const LatencyHistogram& other);

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t sum_us_ = 0;
};

}  // namespace pooler::metrics
