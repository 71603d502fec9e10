// ConnectionBudget: a shared cap on server connections (max_db_connections for a database,
// max_user_connections for a user) that every pool of that database or user draws from.
#pragma once

namespace pooler::pool {

class ConnectionBudget {
 public:
  void set_limit(int limit) { limit_ = limit; }  // 0: unlimited
  int limit() const { return limit_; }
  int used() const { return used_; }
  bool can_take() const { return limit_ <= 0 || used_ < limit_; }
  void take() { ++used_; }
  void give_back() {
    if (used_ > 0) --used_;
  }

 private:
  int limit_ = 0;
  int used_ = 0;
};

}  // namespace pooler::pool
