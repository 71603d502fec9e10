// Graveyard: objects that decided to die inside one of their own callbacks are buried here and
// destroyed on the next loop iteration, once no stack frame can still be using them.
#pragma once

#include <memory>
#include <vector>

#include "pooler/net/loop.hpp"

namespace pooler::net {

class Graveyard {
 public:
  explicit Graveyard(Loop& loop);
  ~Graveyard();
  Graveyard(const Graveyard&) = delete;
  Graveyard& operator=(const Graveyard&) = delete;

  template <typename T>
  void bury(std::unique_ptr<T> object) {
    if (!object) return;
    dead_.emplace_back(std::move(object));
    schedule();
  }
  void clear() { dead_.clear(); }

 private:
  void schedule();
  Loop& loop_;
  std::vector<std::shared_ptr<void>> dead_;
  bool scheduled_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pooler::net
