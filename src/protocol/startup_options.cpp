// Parsing of the `options` startup parameter (PostgreSQL's pg_split_opts and ParseLongOption).
#include "pooler/protocol/startup_options.hpp"

#include <cctype>

namespace pooler::protocol {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i == text.size()) break;
    std::string word;
    while (i < text.size() && !is_space(text[i])) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      word += text[i++];
    }
    words.push_back(std::move(word));
  }
  return words;
}

// "name=value" into the setting; false when there is no '='.
bool add_setting(std::string_view word, StartupOptions& out) {
  std::size_t eq = word.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  std::string name(word.substr(0, eq));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  out.settings.emplace_back(std::move(name), std::string(word.substr(eq + 1)));
  return true;
}

}  // namespace

StartupOptions parse_startup_options(std::string_view options) {
  StartupOptions out;
  std::vector<std::string> words = split_words(options);
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view word = words[i];
    std::string_view setting;
    if (word == "-c") {
      if (i + 1 == words.size()) {
        out.error = "-c requires a value";
        return out;
      }
      setting = words[++i];
    } else if (word.substr(0, 2) == "-c") {
      setting = word.substr(2);
    } else if (word.substr(0, 2) == "--" && word.size() > 2) {
      setting = word.substr(2);
    } else {
      // PostgreSQL takes its other command-line switches here too; they set server-wide
      // things a pooled connection cannot have.
      out.error = "unsupported startup option: " + std::string(word);
      return out;
    }
    if (!add_setting(setting, out)) {
      std::string shown = word == "-c" ? "-c " + std::string(setting) : std::string(word);
      out.error = shown + " requires a value";
      return out;
    }
  }
  return out;
}

}  // namespace pooler::protocol
