// pg_ident.conf: three fields per line (quoted with "" where they hold blanks), # comments.
#include "pooler/config/ident_map.hpp"

#include "text_lines.hpp"

namespace pooler::config {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The fields of a line; false (and `error`) on an unterminated quote.
bool split(const std::string& line, std::vector<std::string>& fields, std::string& error) {
  std::size_t i = 0;
  while (i < line.size()) {
    if (is_blank(line[i])) {
      ++i;
      continue;
    }
    if (line[i] == '#') break;
    std::string field;
    while (i < line.size() && !is_blank(line[i]) && line[i] != '#') {
      if (line[i] == '"') {
        std::size_t close = line.find('"', i + 1);
        if (close == std::string::npos) {
          error = "unterminated quoted string";
          return false;
        }
        field.append(line, i + 1, close - i - 1);
        i = close + 1;
      } else {
        field += line[i++];
      }
    }
    fields.push_back(std::move(field));
  }
  return true;
}

// glibc's regcomp copies the tree under every '+' and {m,n}, and its epsilon closure recurses
// through stacked and nested repetitions: a fuzzed "x++++..." took gigabytes, "z****..." seconds
// of CPU and the whole stack. Patterns are kept to what ident maps need.
constexpr std::size_t kMaxPattern = 256;
constexpr int kMaxPlus = 8;
constexpr int kMaxRepetitions = 32;
constexpr int kMaxGroupDepth = 8;

bool is_repetition(char c) { return c == '*' || c == '+' || c == '?'; }

// Where the bracket expression opening at `open` ends: "[]a]" and "[^]a]" hold a literal ']'.
std::size_t bracket_end(const std::string& pattern, std::size_t open) {
  std::size_t i = open + 1;
  if (i < pattern.size() && pattern[i] == '^') ++i;
  if (i < pattern.size() && pattern[i] == ']') ++i;
  while (i < pattern.size() && pattern[i] != ']') ++i;
  return i;
}

const char* unsafe_pattern(const std::string& pattern) {
  if (pattern.size() > kMaxPattern) return "longer than 256 bytes";
  int plus = 0;
  int repetitions = 0;
  int depth = 0;
  bool after_repetition = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      // A back-reference makes matching exponential; \1 belongs in the database user field.
      if (i + 1 < pattern.size() && pattern[i + 1] >= '1' && pattern[i + 1] <= '9') {
        return "back-references (\\1) are not supported in the pattern";
      }
      ++i;
      after_repetition = false;
      continue;
    }
    if (c == '[') {
      i = bracket_end(pattern, i);
      after_repetition = false;
      continue;
    }
    if (c == '{') return "counted repetition ({m,n}) is not supported";
    if (is_repetition(c)) {
      if (after_repetition) {
        return "a repetition of a repetition (such as \"a**\") is not supported";
      }
      after_repetition = true;
      if (++repetitions > kMaxRepetitions) return "more than 32 repetitions (*, + or ?)";
      if (c == '+' && ++plus > kMaxPlus) return "more than 8 '+' repetitions";
      continue;
    }
    after_repetition = false;
    if (c == '(' && ++depth > kMaxGroupDepth) return "groups nested more than 8 deep";
    if (c == ')' && depth > 0) --depth;
  }
  return nullptr;
}

}  // namespace

IdentMaps parse_ident_text(const std::string& text, const std::string& file,
                           std::vector<Diagnostic>& diagnostics) {
  IdentMaps maps;
  maps.file = file;
  for_each_line(text, [&](int line_number, const std::string& line) {
    auto fail = [&](std::string message) {
      Diagnostic d;
      d.file = file;
      d.line = line_number;
      d.message = std::move(message);
      diagnostics.push_back(std::move(d));
    };
    std::vector<std::string> fields;
    std::string error;
    if (!split(line, fields, error)) {
      fail(error);
      return;
    }
    if (fields.empty()) return;
    if (fields.size() != 3) {
      fail("expected three fields (map name, system user name, database user name), got " +
           std::to_string(fields.size()));
      return;
    }
    IdentEntry entry{line_number, fields[0], fields[1], fields[2], nullptr};
    if (entry.system_name.size() > 1 && entry.system_name[0] == '/') {
      if (const char* why = unsafe_pattern(entry.system_name.substr(1))) {
        fail("regular expression refused: " + std::string(why));
        return;
      }
      auto compiled = std::make_unique<regex_t>();
      int rc = regcomp(compiled.get(), entry.system_name.c_str() + 1, REG_EXTENDED);
      if (rc != 0) {
        char reason[128];
        regerror(rc, compiled.get(), reason, sizeof reason);
        fail("invalid regular expression \"" + entry.system_name.substr(1) + "\": " + reason);
        return;
      }
      entry.pattern = std::shared_ptr<const regex_t>(compiled.release(), [](const regex_t* r) {
        regfree(const_cast<regex_t*>(r));
        delete r;
      });
    }
    maps.entries.push_back(std::move(entry));
  });
  return maps;
}

bool ident_allows(const IdentMaps& maps, const std::string& map, const std::string& system_name,
                  const std::string& database_user) {
  for (const IdentEntry& e : maps.entries) {
    if (e.map != map) continue;
    if (!e.pattern) {
      if (e.system_name == system_name && e.database_user == database_user) return true;
      continue;
    }
    regmatch_t match[2];
    if (regexec(e.pattern.get(), system_name.c_str(), 2, match, 0) != 0) continue;
    std::string wanted = e.database_user;
    // As PostgreSQL: \1 in the database user is the first capture of the expression.
    if (std::size_t at = wanted.find("\\1"); at != std::string::npos) {
      if (match[1].rm_so < 0) continue;
      wanted.replace(at, 2, system_name.substr(static_cast<std::size_t>(match[1].rm_so),
                                               static_cast<std::size_t>(match[1].rm_eo -
                                                                        match[1].rm_so)));
    }
    if (wanted == database_user) return true;
  }
  return false;
}

}  // namespace pooler::config
