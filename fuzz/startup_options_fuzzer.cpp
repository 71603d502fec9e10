// libFuzzer entry point for the `options` startup parameter's parser. Besides no crash and no
// UB: a well-formed answer names every setting (no empty name, no '=' in one, no dash left
// unconverted), and parsing is deterministic.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "pooler/protocol/startup_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = pooler::protocol::parse_startup_options(text);
  if (parsed.error.empty()) {
    for (const auto& [name, value] : parsed.settings) {
      pooler::fuzz::require(!name.empty());
      pooler::fuzz::require(name.find('=') == std::string::npos);
      pooler::fuzz::require(name.find('-') == std::string::npos);
    }
  }
  const auto again = pooler::protocol::parse_startup_options(text);
  pooler::fuzz::require(again.settings == parsed.settings && again.error == parsed.error);
  return 0;
}
