// defer(): runs a callback on the next loop iteration, so a failure found synchronously can be
// reported the same way as one found later, never by re-entering the caller.
#pragma once

#include <functional>

#include "pooler/net/loop.hpp"

namespace pooler::net {

void defer(Loop& loop, std::function<void()> callback);

}  // namespace pooler::net
