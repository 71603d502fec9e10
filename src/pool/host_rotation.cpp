// HostRotation: PgBouncer's host counter, with failed hosts passed over.
#include "pooler/pool/host_rotation.hpp"

#include <algorithm>

namespace pooler::pool {

HostRotation::HostRotation(std::size_t hosts, Mode mode)
    : mode_(mode), failed_at_(std::max<std::size_t>(hosts, 1)) {}

std::size_t HostRotation::pick(util::TimePoint now, util::Duration retry) {
  std::size_t n = size();
  std::size_t chosen = n;
  for (std::size_t k = 0; k < n && chosen == n; ++k) {
    std::size_t host = (next_ + k) % n;
    if (!failing(host, now, retry))
      chosen = host;
  }
  if (chosen == n) {
    // Every host is failing: the one that failed longest ago has had the longest to recover.
    chosen = static_cast<std::size_t>(std::min_element(failed_at_.begin(), failed_at_.end()) -
                                      failed_at_.begin());
  }
  // Round robin goes on from the host chosen, so a skipped host does not double its successor's
  // share; disable stays on it.
  next_ = mode_ == Mode::kRoundRobin ? (chosen + 1) % n : chosen;
  return chosen;
}

void HostRotation::failed(std::size_t host, util::TimePoint now) {
  if (host >= size())
    return;
  failed_at_[host] = now;
  // Only a failure of the host in use moves disable on: late failures of connections opened
  // before it moved must not move it again.
  if (mode_ == Mode::kDisable && next_ == host)
    next_ = (host + 1) % size();
}

void HostRotation::succeeded(std::size_t host) {
  if (host < size())
    failed_at_[host].reset();
}

bool HostRotation::failing(std::size_t host, util::TimePoint now, util::Duration retry) const {
  return host < size() && failed_at_[host] && now < *failed_at_[host] + retry;
}

bool HostRotation::all_failing(util::TimePoint now, util::Duration retry) const {
  for (std::size_t host = 0; host < size(); ++host) {
    if (!failing(host, now, retry))
      return false;
  }
  return true;
}

bool HostRotation::all_failed() const {
  return std::all_of(failed_at_.begin(), failed_at_.end(),
                     [](const auto& at) { return at.has_value(); });
}

}  // namespace pooler::pool
