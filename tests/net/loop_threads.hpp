// Test helpers for streams and loops on threads: run a loop until something happens (bounded,
// so a broken case fails instead of hanging), and a handler that records what a stream got.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "pooler/net/loop.hpp"
#include "pooler/net/stream.hpp"

namespace pooler::net::testing {

// Turns `loop` until `done()` or about five seconds have gone; returns done().
template <typename Done>
bool run_until(Loop& loop, Done&& done) {
  for (int turn = 0; turn < 5000 && !done(); ++turn) {
    uv_run(loop.raw(), UV_RUN_NOWAIT);
    if (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

struct Recorder final : StreamHandler {
  std::string received;
  int disconnects = 0;
  int tls_ready = 0;
  void on_read(util::Bytes data) override { received.append(util::as_chars(data)); }
  void on_disconnect(int) override { ++disconnects; }
  void on_tls_ready() override { ++tls_ready; }
};

}  // namespace pooler::net::testing
