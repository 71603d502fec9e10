// Suspension: SUSPEND's hold on every stream of a loop. While held, streams stop reading, so
// nothing new arrives while their queued output drains; exempt streams (admin consoles) go on.
#pragma once

#include <cstddef>

namespace pooler::net {

class Suspension {
 public:
  // A stream as the suspension sees it.
  class Member {
   public:
    // Held or released: the member starts or stops reading as its own wishes allow.
    virtual void on_suspension_changed() = 0;
    virtual std::size_t unsent_bytes() const = 0;
    virtual bool exempt() const = 0;
    // Closes the member now, dropping what it has queued.
    virtual void drop() = 0;

   protected:
    ~Member() = default;

   private:
    friend class Suspension;
    // The suspension's list of members runs through them: joining allocates nothing.
    Member* prev_ = nullptr;
    Member* next_ = nullptr;
  };

  bool held() const { return held_; }
  // Streams accepted or connected while held start held.
  void hold();
  void release();
  // Bytes still queued on the streams that are not exempt.
  std::size_t unsent_bytes() const;
  // Closes the non-exempt streams that could not flush in time; returns how many.
  std::size_t drop_unflushed();

  // A member joins once and leaves before it is destroyed.
  void join(Member* member);
  void leave(Member* member);

 private:
  void notify_all();
  template <typename F>
  void for_each(F&& f) const {
    for (Member* m = first_; m != nullptr; m = m->next_) f(m);
  }

  bool held_ = false;
  Member* first_ = nullptr;
};

}  // namespace pooler::net
