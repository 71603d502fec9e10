// Repeating timer whose handle memory lives until libuv's close callback.
#include "pooler/net/timer.hpp"

namespace pooler::net {

struct Timer::Impl {
  uv_timer_t timer{};
  std::function<void()> on_tick;
};

Timer::Timer(Loop& loop, std::function<void()> on_tick) : impl_(new Impl) {
  impl_->on_tick = std::move(on_tick);
  uv_timer_init(loop.raw(), &impl_->timer);
  impl_->timer.data = impl_;
}

Timer::~Timer() {
  impl_->on_tick = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&impl_->timer),
           [](uv_handle_t* h) { delete static_cast<Impl*>(h->data); });
}

void Timer::start(std::chrono::milliseconds interval) {
  auto ms = static_cast<std::uint64_t>(interval.count());
  uv_timer_start(
      &impl_->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Impl*>(t->data);
        if (self->on_tick) self->on_tick();
      },
      ms, ms);
}

void Timer::start_once(std::chrono::milliseconds delay) {
  uv_timer_start(
      &impl_->timer,
      [](uv_timer_t* t) {
        auto* self = static_cast<Impl*>(t->data);
        if (self->on_tick) self->on_tick();
      },
      static_cast<std::uint64_t>(delay.count()), 0);
}


}  // namespace pooler::net
