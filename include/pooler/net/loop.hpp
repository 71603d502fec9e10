// Loop: owns one libuv event loop and the read buffer every stream on it shares.
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

#include "pooler/net/suspension.hpp"

namespace pooler::net {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }
  void run();
  void stop() { uv_stop(&loop_); }
  // Closes every remaining handle and runs the loop until they are gone.
  void drain();

  // libuv calls alloc then read back to back for one stream, so one buffer serves all reads.
  uv_buf_t read_buffer() { return uv_buf_init(read_buffer_.data(), read_buffer_.size()); }

  // SUSPEND's hold over every stream on this loop.
  Suspension& suspension() { return suspension_; }

 private:
  uv_loop_t loop_{};
  std::vector<char> read_buffer_;
  Suspension suspension_;
};

}  // namespace pooler::net
