// The event loop wrapper.
#include "pooler/net/loop.hpp"

#include <cstdlib>

namespace pooler::net {

namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;
}

Loop::Loop() : read_buffer_(kReadBufferSize) {
  if (uv_loop_init(&loop_) != 0) std::abort();
  loop_.data = this;
}

Loop::~Loop() {
  drain();
  uv_loop_close(&loop_);
}

void Loop::run() { uv_run(&loop_, UV_RUN_DEFAULT); }

void Loop::drain() {
  uv_walk(
      &loop_,
      [](uv_handle_t* handle, void*) {
        if (!uv_is_closing(handle)) uv_close(handle, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

}  // namespace pooler::net
