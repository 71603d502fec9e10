// Misspelt keys: the PostgreSQL-name table and the one-edit test behind "did you mean".
#include "pooler/config/spelling.hpp"

#include <array>
#include <utility>

#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

// The server's GUCs first, then libpq's connection options: people copy both into pooler files.
constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kPostgresNames = {{
    {"tcp_keepalives", "tcp_keepalive"},
    {"tcp_keepalives_idle", "tcp_keepidle"},
    {"tcp_keepalives_interval", "tcp_keepintvl"},
    {"tcp_keepalives_count", "tcp_keepcnt"},
    {"keepalives", "tcp_keepalive"},
    {"keepalives_idle", "tcp_keepidle"},
    {"keepalives_interval", "tcp_keepintvl"},
    {"keepalives_count", "tcp_keepcnt"},
}};

}  // namespace

std::optional<std::string_view> pooler_key_for_postgres_name(std::string_view key) {
  for (const auto& [postgres, pooler] : kPostgresNames) {
    if (iequals(key, postgres)) {
      return pooler;
    }
  }
  return std::nullopt;
}

bool one_edit_apart(std::string_view a_text, std::string_view b_text) {
  const std::string a = to_lower(a_text);
  const std::string b = to_lower(b_text);
  if (a == b) {
    return false;
  }
  if (a.size() == b.size()) {
    std::size_t first = 0;
    while (a[first] == b[first]) {
      ++first;
    }
    // One substitution, or two neighbours swapped.
    if (a.compare(first + 1, std::string::npos, b, first + 1, std::string::npos) == 0) {
      return true;
    }
    return first + 1 < a.size() && a[first] == b[first + 1] && a[first + 1] == b[first] &&
           a.compare(first + 2, std::string::npos, b, first + 2, std::string::npos) == 0;
  }
  const std::string& longer = a.size() > b.size() ? a : b;
  const std::string& shorter = a.size() > b.size() ? b : a;
  if (longer.size() != shorter.size() + 1) {
    return false;
  }
  // One insertion: skipping one character of the longer string leaves the shorter one.
  std::size_t first = 0;
  while (first < shorter.size() && longer[first] == shorter[first]) {
    ++first;
  }
  return longer.compare(first + 1, std::string::npos, shorter, first, std::string::npos) == 0;
}

std::optional<std::string_view> one_edit_suggestion(std::string_view key,
                                                    const std::vector<std::string_view>& known) {
  for (std::string_view candidate : known) {
    if (one_edit_apart(key, candidate)) {
      return candidate;
    }
  }
  return std::nullopt;
}

}  // namespace pooler::config
