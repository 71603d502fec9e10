// What the fuzz targets share: a violated invariant traps, so libFuzzer saves the input as a
// finding, and helpers that check the shape of what a parser answered.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "pooler/protocol/framer.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::fuzz {

inline void require(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

struct WireMessage {
  char type = 0;
  std::string body;
};

// Splits what the pooler sends into messages; traps unless the bytes are whole messages back to
// back, each with a sane length.
inline std::vector<WireMessage> framed_messages(std::string_view bytes) {
  std::vector<WireMessage> messages;
  util::Bytes rest = util::as_bytes(bytes);
  while (!rest.empty()) {
    protocol::Frame frame = protocol::frame_typed(rest, std::size_t{1} << 30);
    require(frame.complete());
    messages.push_back({frame.type, std::string(util::as_chars(frame.body))});
    rest = rest.subspan(frame.size);
  }
  return messages;
}

// The lines of `text` as a line-numbered reader counts them: line n (from 1) is the text between
// the (n-1)th and nth '\n'.
inline std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = std::min(text.find('\n', pos), text.size());
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

// A diagnostic's line must hold something a reader acts on: not blank, not a comment.
inline bool names_a_content_line(const std::vector<std::string_view>& lines, int line) {
  if (line < 1 || static_cast<std::size_t>(line) > lines.size()) {
    return false;
  }
  std::string_view text = lines[line - 1];
  if (line == 1 && text.starts_with("\xEF\xBB\xBF")) {
    text.remove_prefix(3);
  }
  std::size_t first = text.find_first_not_of(" \t\r\n\f\v");
  return first != std::string_view::npos && text[first] != ';' && text[first] != '#';
}

// Each run of digits replaced by one '#', so messages that cite line numbers compare across a
// shifted input (line 9 becomes 10).
inline std::string without_numbers(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (!digit) {
      out += text[i];
    } else if (i == 0 || text[i - 1] < '0' || text[i - 1] > '9') {
      out += '#';
    }
  }
  return out;
}

}  // namespace pooler::fuzz
