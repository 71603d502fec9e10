// LatencyHistogram sums.
#include "pooler/metrics/histogram.hpp"

namespace pooler::metrics {

std::uint64_t LatencyHistogram::count() const {
  std::uint64_t total = 0;
  for (std::uint64_t c : counts_) total += c;
  return total;
}

LatencyHistogram& LatencyHistogram::operator+=(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  sum_us_ += other.sum_us_;
  return *this;
}

}  // namespace pooler::metrics
