// AutoDatabases: which "*"-served names exist and since when each has been idle.
#include "pooler/pool/auto_databases.hpp"

namespace pooler::pool {

bool AutoDatabases::add(const std::string& name) {
  return idle_since_.emplace(name, std::nullopt).second;
}

std::vector<std::string> AutoDatabases::names() const {
  std::vector<std::string> out;
  out.reserve(idle_since_.size());
  for (const auto& [name, since] : idle_since_) out.push_back(name);
  return out;
}

std::vector<std::string> AutoDatabases::sweep(util::TimePoint now, util::Duration timeout,
                                              const std::function<bool(const std::string&)>& held) {
  std::vector<std::string> expired;
  for (auto it = idle_since_.begin(); it != idle_since_.end();) {
    auto& since = it->second;
    if (held(it->first)) {
      since.reset();
    } else if (!since) {
      since = now;
    } else if (timeout > util::Duration::zero() && now - *since > timeout) {
      expired.push_back(it->first);
      it = idle_since_.erase(it);
      continue;
    }
    ++it;
  }
  return expired;
}

}  // namespace pooler::pool
