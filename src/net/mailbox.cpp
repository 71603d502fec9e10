// Mailbox implementation: a mutex-guarded task list and a uv_async_t to wake the loop. libuv
// coalesces wake-ups, so one callback runs every task queued by then.
#include "pooler/net/mailbox.hpp"

#include <mutex>
#include <vector>

namespace pooler::net {

struct MailboxShared {
  std::mutex mutex;
  std::vector<std::function<void()>> tasks;  // guarded by mutex
  uv_async_t* async = nullptr;               // guarded by mutex; null once closed
};

namespace {

void run_tasks(uv_async_t* async) {
  auto* shared = static_cast<MailboxShared*>(async->data);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(shared->mutex);
    batch.swap(shared->tasks);
  }
  // A task may close the mailbox: the batch is ours, so running the rest stays safe.
  for (auto& task : batch) task();
}

}  // namespace

Mailbox::Mailbox(Loop& loop) {
  address_.shared_ = std::make_shared<MailboxShared>();
  auto* async = new uv_async_t;
  uv_async_init(loop.raw(), async, &run_tasks);
  async->data = address_.shared_.get();
  address_.shared_->async = async;
}

Mailbox::~Mailbox() { close(); }

MailboxAddress Mailbox::address() const { return address_; }

bool MailboxAddress::post(std::function<void()> task) const {
  if (!shared_) return false;
  std::lock_guard lock(shared_->mutex);
  if (shared_->async == nullptr) return false;
  shared_->tasks.push_back(std::move(task));
  // Under the lock, so close() cannot free the handle between the check and the send.
  uv_async_send(shared_->async);
  return true;
}

void Mailbox::close() {
  MailboxShared& shared = *address_.shared_;
  uv_async_t* async = nullptr;
  std::vector<std::function<void()>> dropped;
  {
    std::lock_guard lock(shared.mutex);
    async = shared.async;
    shared.async = nullptr;
    dropped.swap(shared.tasks);
  }
  if (async == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(async),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
}

}  // namespace pooler::net
