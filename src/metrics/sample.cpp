// Derived values of a sample.
#include "pooler/metrics/sample.hpp"

#include <algorithm>

namespace pooler::metrics {

double PoolSample::utilization() const {
  if (pool_size <= 0) return 0;
  return std::min(1.0, static_cast<double>(server_active) / pool_size);
}

}  // namespace pooler::metrics
