// auth_file (userlist.txt): `"user" "secret"` lines, as PgBouncer reads them.
#include <cstdint>
#include <optional>

#include "ini_reader.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

constexpr std::int64_t kIntMax = 2147483647;

// Reads one "quoted" field of an auth_file line at `pos`; "" inside is a quote.
std::optional<std::string> read_quoted(std::string_view line, std::size_t& pos,
                                       bool& unterminated) {
  unterminated = false;
  if (pos >= line.size() || line[pos] != '"') {
    return std::nullopt;
  }
  std::string field;
  for (++pos; pos < line.size(); ++pos) {
    if (line[pos] != '"') {
      field += line[pos];
    } else if (pos + 1 < line.size() && line[pos + 1] == '"') {
      field += '"';
      ++pos;
    } else {
      ++pos;
      return field;
    }
  }
  unterminated = true;
  return std::nullopt;
}

bool is_base64(std::string_view text) {
  return !text.empty() && text.find_first_not_of(
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789+/=") == std::string_view::npos;
}

// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, all keys base64.
bool is_scram_verifier(std::string_view secret) {
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  secret.remove_prefix(kPrefix.size());
  std::size_t colon = secret.find(':');
  std::size_t dollar = secret.find('$');
  if (colon == std::string_view::npos || dollar == std::string_view::npos || dollar < colon) {
    return false;
  }
  std::string_view iterations = secret.substr(0, colon);
  std::string_view salt = secret.substr(colon + 1, dollar - colon - 1);
  std::string_view keys = secret.substr(dollar + 1);
  std::size_t key_colon = keys.find(':');
  return !iterations.empty() && parse_int(iterations, 1, kIntMax).ok() && is_base64(salt) &&
         key_colon != std::string_view::npos && is_base64(keys.substr(0, key_colon)) &&
         is_base64(keys.substr(key_colon + 1));
}

}  // namespace

std::map<std::string, UserSecret> parse_auth_file_text(const std::string& text,
                                                       const std::string& file,
                                                       std::vector<Diagnostic>& diagnostics) {
  std::map<std::string, UserSecret> users;
  std::map<std::string, int> seen_at;
  int line_number = 0;
  // A byte-order mark (some Windows editors write one) would make line 1 unreadable; the config
  // reader skips it too.
  std::size_t pos = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line = trim(std::string_view(text).substr(pos, end - pos));
    pos = end + 1;
    ++line_number;
    if (line.empty() || line[0] == ';' || line[0] == '#') {
      continue;
    }
    const Location where{file, line_number};
    // No message below quotes the line: everything after the user name may be a secret.
    auto fail = [&](std::string message) {
      diagnostics.push_back(make_diagnostic(Severity::kError, where, "", std::move(message)));
    };
    std::size_t at = 0;
    bool unterminated = false;
    std::optional<std::string> user = read_quoted(line, at, unterminated);
    if (!user) {
      fail(unterminated ? "unterminated quoted user name"
                        : "expected a line of the form \"user\" \"password\"");
      continue;
    }
    if (user->empty()) {
      fail("empty user name");
      continue;
    }
    while (at < line.size() && is_space(line[at])) {
      ++at;
    }
    std::optional<std::string> secret = read_quoted(line, at, unterminated);
    if (!secret) {
      fail("user \"" + *user + "\": " +
           (unterminated ? "unterminated quoted password" : "expected a double-quoted password"));
      continue;
    }
    if (secret->rfind("SCRAM-SHA-256$", 0) == 0 && !is_scram_verifier(*secret)) {
      diagnostics.push_back(make_diagnostic(
          Severity::kWarning, where, "",
          "user \"" + *user +
              "\": the password looks like a SCRAM verifier but is malformed; it is taken as "
              "plain text"));
    }
    auto earlier = seen_at.find(*user);
    if (earlier != seen_at.end()) {
      diagnostics.push_back(make_diagnostic(Severity::kWarning, where, "",
                                            "user \"" + *user +
                                                "\" listed again; this replaces line " +
                                                std::to_string(earlier->second)));
    }
    seen_at[*user] = line_number;
    users[*user] = UserSecret{*user, std::move(*secret)};
  }
  return users;
}

}  // namespace pooler::config
