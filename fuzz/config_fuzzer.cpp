// libFuzzer entry point for the config file parser, through its public API only (parse_config_text
// and the diagnostics), so it keeps working while the loader changes. Besides no crash and no UB:
// every diagnostic names this file and a line of the input that holds something (line 0 for
// problems tied to no line), ok() agrees with the diagnostics, entries remember real lines, and a
// comment line put in front shifts every line by one and changes nothing else.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pooler/config/diagnostics.hpp"
#include "pooler/config/loader.hpp"

namespace {

namespace config = pooler::config;
using pooler::fuzz::require;

constexpr const char* kFile = "fuzz.ini";

void check_line(const std::vector<std::string_view>& lines, int line) {
  require(line == 0 || pooler::fuzz::names_a_content_line(lines, line));
}

void check_result(const config::LoadResult& result, std::string_view text) {
  const auto lines = pooler::fuzz::lines_of(text);
  for (const config::Diagnostic& d : result.diagnostics) {
    require(d.file == kFile);
    require(!d.message.empty());
    check_line(lines, d.line);
    const std::string shown = config::format(d);
    const std::string where = d.line > 0 ? kFile + (":" + std::to_string(d.line)) : kFile;
    require(shown.starts_with(where));
    require(shown.ends_with(d.message));
  }
  require(result.ok() == !config::has_errors(result.diagnostics));
  for (const auto& [name, entry] : result.config.databases) {
    require(!name.empty() && name == entry.name);
    require(name != "pgbouncer" && name != "pooler");
    require(pooler::fuzz::names_a_content_line(lines, entry.line));
  }
  for (const auto& [name, entry] : result.config.users) {
    require(!name.empty() && name == entry.name);
    require(pooler::fuzz::names_a_content_line(lines, entry.line));
  }
}

// The same input one line lower: the same findings, each one line further down.
void check_shifted(const config::LoadResult& result, const std::string& text) {
  const config::LoadResult shifted = config::parse_config_text("; shifted\n" + text, kFile);
  require(shifted.diagnostics.size() == result.diagnostics.size());
  for (std::size_t i = 0; i < result.diagnostics.size(); ++i) {
    const config::Diagnostic& a = result.diagnostics[i];
    const config::Diagnostic& b = shifted.diagnostics[i];
    require(a.severity == b.severity && a.key == b.key);
    require(b.line == (a.line == 0 ? 0 : a.line + 1));
    // Messages may cite other lines ("replaces the definition at fuzz.ini:3").
    require(pooler::fuzz::without_numbers(a.message) == pooler::fuzz::without_numbers(b.message));
  }
  require(shifted.config.databases.size() == result.config.databases.size());
  require(shifted.config.users.size() == result.config.users.size());
  for (const auto& [name, entry] : result.config.databases) {
    auto other = shifted.config.databases.find(name);
    require(other != shifted.config.databases.end() && other->second.line == entry.line + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // %include opens the file it names: the fuzzer must not read (or block on) arbitrary paths.
  if (text.find("%include") != std::string::npos) {
    return -1;
  }
  const config::LoadResult result = config::parse_config_text(text, kFile);
  check_result(result, text);
  // A byte-order mark is only skipped on line 1, so moving it down changes its meaning.
  if (!text.starts_with("\xEF\xBB\xBF")) {
    check_shifted(result, text);
  }
  return 0;
}
