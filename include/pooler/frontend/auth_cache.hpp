// AuthCache: what auth_query answered, per look-up (database, auth user, query) and user, for a
// bounded time and a bounded number of answers, so a burst of connect-per-request logins costs
// one look-up instead of one per connect (PgBouncer issue 1302).
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

#include "pooler/backend/auth_query.hpp"
#include "pooler/util/clock.hpp"

namespace pooler::frontend {

class AuthCache {
 public:
  // Identifies one answer: the look-up that gave it and the user it was for.
  static std::string key(const std::string& database, const std::string& auth_user,
                         const std::string& query, const std::string& user);

  // The answer stored for `key` no longer than `ttl` ago; nullptr if there is none (or the
  // ttl is zero: nothing is cached).
  const backend::AuthQueryAnswer* find(const std::string& key, util::TimePoint now,
                                       util::Duration ttl) const;
  // Keeps `answer` (errors are not kept: the next login asks again), evicting the oldest answer
  // when `capacity` are held.
  void store(const std::string& key, const backend::AuthQueryAnswer& answer, util::TimePoint now,
             std::size_t capacity);
  // RELOAD and RECONNECT: every login from now on looks its secret up afresh.
  void clear();
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    backend::AuthQueryAnswer answer;
    util::TimePoint stored;
    std::list<std::string>::iterator age;  // its place in oldest_first_
  };
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> oldest_first_;
};

}  // namespace pooler::frontend
