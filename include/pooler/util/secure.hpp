// Secret handling: constant-time comparison and cryptographically strong randomness.
#pragma once

#include <cstdint>
#include <string_view>

namespace pooler::util {

// True when a == b; the time taken depends only on the lengths, never on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// Fills buf with bytes from the OS CSPRNG; aborts if it cannot (no safe fallback exists).
void random_bytes(void* buf, std::size_t len);

}  // namespace pooler::util
