// Lcg: a fixed-seed generator for reproducible "random" test input, without <random>'s drift
// between standard libraries.
#pragma once

#include <cstdint>

namespace pooler::testing {

class Lcg {
 public:
  explicit Lcg(std::uint64_t seed) : state_(seed) {}
  std::uint32_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state_ >> 33);
  }

 private:
  std::uint64_t state_;
};

}  // namespace pooler::testing
