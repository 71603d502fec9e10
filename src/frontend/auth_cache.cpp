// AuthCache: bounded in time and size; oldest answers go first.
#include "pooler/frontend/auth_cache.hpp"

namespace pooler::frontend {

std::string AuthCache::key(const std::string& database, const std::string& auth_user,
                           const std::string& query, const std::string& user) {
  // NUL cannot occur in a name or a query, so the parts cannot run into each other.
  std::string out;
  out.reserve(database.size() + auth_user.size() + query.size() + user.size() + 3);
  for (const std::string* part : {&database, &auth_user, &query}) {
    out += *part;
    out += '\0';
  }
  out += user;
  return out;
}

const backend::AuthQueryAnswer* AuthCache::find(const std::string& key, util::TimePoint now,
                                                util::Duration ttl) const {
  if (ttl <= util::Duration{}) return nullptr;
  auto it = entries_.find(key);
  if (it == entries_.end() || now - it->second.stored >= ttl) return nullptr;
  return &it->second.answer;
}

void AuthCache::store(const std::string& key, const backend::AuthQueryAnswer& answer,
                      util::TimePoint now, std::size_t capacity) {
  if (answer.kind == backend::AuthQueryAnswer::Kind::kError || capacity == 0) return;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    oldest_first_.erase(it->second.age);
    entries_.erase(it);
  }
  while (entries_.size() >= capacity) {
    entries_.erase(oldest_first_.front());
    oldest_first_.pop_front();
  }
  oldest_first_.push_back(key);
  entries_.emplace(key, Entry{answer, now, std::prev(oldest_first_.end())});
}

void AuthCache::clear() {
  entries_.clear();
  oldest_first_.clear();
}

}  // namespace pooler::frontend
