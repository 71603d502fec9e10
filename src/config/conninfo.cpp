// The conninfo parser for [databases] and [users] values.
#include "conninfo.hpp"

#include "ini_reader.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {

// libpq's conninfo syntax: `key=value` pairs split by blanks; a value may be single-quoted with
// \' or '' for a quote; a backslash escapes the next character. A comment may follow the pairs.
// Messages name keys only: a stray word is likely the rest of an unquoted password.
util::Result<std::vector<std::pair<std::string, std::string>>> parse_conninfo(
    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string previous_key;
  std::size_t pos = 0;
  auto skip_blanks = [&] {
    while (pos < text.size() && is_space(text[pos])) {
      ++pos;
    }
  };
  while (true) {
    skip_blanks();
    // Where a key would start, ';' or '#' after a blank can only open a comment: the pairs are
    // typed values, and one that may hold either character (a password, a query) is quoted.
    const bool after_blank = pos == 0 || is_space(text[pos - 1]);
    if (pos >= text.size() || (after_blank && (text[pos] == ';' || text[pos] == '#'))) {
      return pairs;
    }
    std::size_t key_start = pos;
    while (pos < text.size() && !is_space(text[pos]) && text[pos] != '=') {
      ++pos;
    }
    std::string key = to_lower(text.substr(key_start, pos - key_start));
    skip_blanks();
    if (pos >= text.size() || text[pos] != '=') {
      if (previous_key.empty()) {
        return util::Error{"expected key=value pairs"};
      }
      return util::Error{"expected key=value after the value of '" + previous_key +
                         "' (quote values that contain spaces)"};
    }
    ++pos;
    skip_blanks();
    std::string value;
    if (pos < text.size() && text[pos] == '\'') {
      ++pos;
      bool closed = false;
      while (pos < text.size() && !closed) {
        char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
          value += text[pos++];
        } else if (c == '\'' && pos < text.size() && text[pos] == '\'') {
          value += '\'';
          ++pos;
        } else if (c == '\'') {
          closed = true;
        } else {
          value += c;
        }
      }
      if (!closed) {
        return util::Error{"unterminated quoted value for '" + key + "'"};
      }
    } else {
      while (pos < text.size() && !is_space(text[pos])) {
        char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
          c = text[pos++];
        }
        value += c;
      }
    }
    previous_key = key;
    pairs.emplace_back(std::move(key), std::move(value));
  }
}

}  // namespace pooler::config
