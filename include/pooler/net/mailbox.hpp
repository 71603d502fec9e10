// Mailbox: how another thread hands work to a loop. post() may be called from any thread; the
// loop runs the posted tasks on its own thread, in the order they were posted. This, and the
// pool budgets, are all that loops on different threads share.
#pragma once

#include <functional>
#include <memory>

#include "pooler/net/loop.hpp"

namespace pooler::net {

struct MailboxShared;

// What other threads keep to post to a loop: copyable, and safe to use after the mailbox has
// closed (posts are refused then).
class MailboxAddress {
 public:
  // Queues `task` for the loop and wakes it. False (the task dropped at once) once the mailbox
  // is closed.
  bool post(std::function<void()> task) const;

 private:
  friend class Mailbox;
  std::shared_ptr<MailboxShared> shared_;
};

class Mailbox {
 public:
  // Made and destroyed on `loop`'s thread.
  explicit Mailbox(Loop& loop);
  // Tasks not yet run are dropped (destroyed on this thread); later posts are refused.
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  MailboxAddress address() const;
  bool post(std::function<void()> task) const { return address_.post(std::move(task)); }
  // Stops taking posts; called by the destructor, or earlier when a loop shuts down.
  void close();

 private:
  // Holds the shared part, which outlives the Mailbox while any address does.
  MailboxAddress address_;
};

}  // namespace pooler::net
