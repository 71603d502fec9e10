// Secret comparison and randomness, kept apart so every caller gets the same careful version.
#include "pooler/util/secure.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pooler::util {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Fold the length difference in and still walk the longer input, so neither the position of
  // the first mismatch nor a short-circuit on length leaks through timing.
  std::size_t longest = a.size() > b.size() ? a.size() : b.size();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < longest; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

namespace {

void fill_from_kernel(std::uint8_t* p, std::size_t len) {
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();
    }
    p += n;
    len -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void random_bytes(void* buf, std::size_t len) {
  // Small requests (cancel keys, salts, nonces: one or more per login) come from a buffer the
  // kernel refills 4 KiB at a time, saving a syscall each; the bytes are the kernel's all the same.
  static thread_local std::uint8_t pool[4096];
  static thread_local std::size_t left = 0;
  auto* p = static_cast<std::uint8_t*>(buf);
  if (len > sizeof pool / 4) {
    fill_from_kernel(p, len);
    return;
  }
  if (left < len) {
    fill_from_kernel(pool, sizeof pool);
    left = sizeof pool;
  }
  std::uint8_t* source = pool + (sizeof pool - left);
  std::memcpy(p, source, len);
  std::memset(source, 0, len);  // a handed-out secret does not linger in the pool
  left -= len;
}

}  // namespace pooler::util
