// for_each_line: a file's text line by line with 1-based numbers, for the line-oriented files
// (hba, ident maps). Private to config/.
#pragma once

#include <string>

namespace pooler::config {

template <typename F>
void for_each_line(const std::string& text, F&& on_line) {
  int number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    on_line(++number, text.substr(pos, end - pos));
    pos = end + 1;
  }
}

}  // namespace pooler::config
