// One-shot zero-delay timers that free themselves.
#include "pooler/net/defer.hpp"

namespace pooler::net {

namespace {

struct Deferred {
  uv_timer_t timer{};
  std::function<void()> callback;
};

}  // namespace

void defer(Loop& loop, std::function<void()> callback) {
  auto* d = new Deferred;
  d->callback = std::move(callback);
  uv_timer_init(loop.raw(), &d->timer);
  d->timer.data = d;
  uv_timer_start(
      &d->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Deferred*>(t->data);
        auto cb = std::move(self->callback);
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Deferred*>(h->data); });
        if (cb) cb();
      },
      0, 0);
}

}  // namespace pooler::net
