// Timer: a libuv timer owned by one object, closed on destruction (so its callback can never
// outlive the owner).
#pragma once

#include <chrono>
#include <functional>

#include "pooler/net/loop.hpp"

namespace pooler::net {

class Timer {
 public:
  Timer(Loop& loop, std::function<void()> on_tick);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(std::chrono::milliseconds interval);
  void start_once(std::chrono::milliseconds delay);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace pooler::net
