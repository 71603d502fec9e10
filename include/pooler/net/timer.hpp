// Timer: a repeating libuv timer owned by one object (the janitor), closed on destruction.
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
  void stop();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace pooler::net
