// libFuzzer entry point for the auth_hba_file and auth_ident_file parsers and the decisions on
// them. Besides no crash and no UB: every diagnostic and every rule or entry names a line of the
// input that holds something, and an hba decision is always one of the rules parsed (or none).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pooler/config/hba.hpp"
#include "pooler/config/ident_map.hpp"

namespace {

namespace config = pooler::config;
using pooler::fuzz::require;

constexpr const char* kFile = "/etc/pooler/hba.conf";

// @list.txt reads a small list; every other @file is missing. No real file is ever opened.
std::optional<std::string> read_file(const std::string& path) {
  if (path == "/etc/pooler/list.txt") return std::string("alice, bob\n# c\n\"carol\"\n");
  return std::nullopt;
}

// pg_hba.conf's blanks are space, tab and CR (not the ini reader's comment characters), so a
// line names something when it holds any other byte.
bool holds_something(const std::vector<std::string_view>& lines, int line) {
  if (line < 1 || static_cast<std::size_t>(line) > lines.size()) return false;
  return lines[line - 1].find_first_not_of(" \t\r") != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<config::Diagnostic> diagnostics;
  const config::HbaRules rules = config::parse_hba_text(text, kFile, read_file, diagnostics);
  const auto lines = pooler::fuzz::lines_of(text);
  for (const config::Diagnostic& d : diagnostics) {
    require(d.file == kFile && !d.message.empty());
    require(holds_something(lines, d.line));
  }
  for (const config::HbaRule& rule : rules.rules) {
    require(holds_something(lines, rule.line));
  }
  const config::HbaRequest requests[] = {
      {true, false, "", "app", "alice"},
      {false, false, "10.1.2.3", "app", "bob"},
      {false, true, "::1", "carol", "carol"},
      {false, false, "not an address", "", ""},
  };
  for (const config::HbaRequest& request : requests) {
    const config::HbaRule* rule = config::match_hba(rules, request);
    require(rule == nullptr ||
            (rule >= rules.rules.data() && rule < rules.rules.data() + rules.rules.size()));
  }
  // The same bytes as an ident file. Regular expressions compile with glibc's regcomp, whose
  // cost grows fast with the pattern: long inputs are left to the hba half.
  if (size > 512) return 0;
  std::vector<config::Diagnostic> ident_diagnostics;
  const config::IdentMaps maps = config::parse_ident_text(text, kFile, ident_diagnostics);
  for (const config::Diagnostic& d : ident_diagnostics) {
    require(d.file == kFile && !d.message.empty() && holds_something(lines, d.line));
  }
  for (const config::IdentEntry& entry : maps.entries) {
    require(holds_something(lines, entry.line));
    config::ident_allows(maps, entry.map, entry.system_name, entry.database_user);
    config::ident_allows(maps, entry.map, "alice@example.com", "alice");
  }
  return 0;
}
