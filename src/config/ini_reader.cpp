// Reading ini text: the LineFeeder inih pulls lines from and the handler collecting what inih
// splits, so the loader only ever sees clean entries with their file:line.
#include "ini_reader.hpp"

#include <ini.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <system_error>

#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

constexpr int kMaxIncludeDepth = 10;
constexpr long kMaxFileBytes = 64L * 1024 * 1024;

// While inih reads a line these bytes stand in for characters it would treat specially: ';'
// after a space starts an inline comment (PgBouncer keeps it: `DISCARD ALL; ...`), '#' would end
// a long line's continuation, ':' before '=' would split the key. Control characters are refused
// in config text, so the stand-ins never collide with real input.
constexpr char kSemicolon = '\x01';
constexpr char kHash = '\x02';
constexpr char kColon = '\x03';

struct Source {
  std::string file;
  std::string text;
  std::size_t pos = 0;
  int line = 0;
};

std::string escape_for_inih(std::string_view line) {
  std::string escaped(line);
  std::size_t equals = escaped.find('=');
  for (std::size_t i = 1; i < escaped.size(); ++i) {
    if (escaped[i] == ';') {
      escaped[i] = kSemicolon;
    } else if (escaped[i] == '#') {
      escaped[i] = kHash;
    } else if (escaped[i] == ':' && i < equals) {
      escaped[i] = kColon;
    }
  }
  return escaped;
}

std::string unescape(std::string_view text) {
  std::string plain(text);
  for (char& c : plain) {
    c = c == kSemicolon ? ';' : c == kHash ? '#' : c == kColon ? ':' : c;
  }
  return plain;
}

// The ini_reader inih pulls lines from. It walks the source text (and %include files) one
// logical line at a time, keeps file:line for the handler, handles what PgBouncer's format needs
// and inih does not, and hands inih only clean `[section]` and `key = value` lines. Lines go in
// without their indentation, since PgBouncer has no continuation lines; the only indented lines
// inih sees are the pieces of a line longer than its fixed buffer, which the handler rejoins.
class LineFeeder {
 public:
  explicit LineFeeder(std::vector<IniEvent>& events) : events_(events) {}

  void push(Source source) { sources_.push_back(std::move(source)); }

  static char* read(char* buffer, int size, void* self) {
    return static_cast<LineFeeder*>(self)->next(buffer, size);
  }

  // Where the line inih is processing came from.
  const Location& location() const { return location_; }
  // True while inih is processing the second or later piece of one long line.
  bool continuing() const { return continuing_; }

 private:
  char* next(char* buffer, int size) {
    while (queued_.empty()) {
      std::optional<std::string> line = next_logical_line();
      if (!line) {
        return nullptr;
      }
      accept(*line, size);
    }
    continuing_ = pieces_sent_ > 0;
    std::string piece = std::move(queued_.front());
    queued_.pop_front();
    ++pieces_sent_;
    std::memcpy(buffer, piece.c_str(), piece.size() + 1);
    return buffer;
  }

  std::optional<std::string> next_logical_line() {
    while (!sources_.empty()) {
      Source& source = sources_.back();
      if (source.pos >= source.text.size()) {
        sources_.pop_back();
        continue;
      }
      std::size_t end = source.text.find('\n', source.pos);
      if (end == std::string::npos) {
        end = source.text.size();
      }
      std::string_view line(source.text.data() + source.pos, end - source.pos);
      source.pos = end + 1;
      ++source.line;
      if (source.line == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") {
        line.remove_prefix(3);
      }
      location_ = Location{source.file, source.line};
      pieces_sent_ = 0;
      return std::string(trim(line));
    }
    return std::nullopt;
  }

  void error(std::string message) {
    events_.emplace_back(make_diagnostic(Severity::kError, location_, "", std::move(message)));
  }

  // Queues the pieces of one logical line for inih, or reports why the line is not used.
  void accept(const std::string& line, int size) {
    if (line.empty() || line[0] == ';' || line[0] == '#') {
      return;
    }
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        error("control character (code " + std::to_string(static_cast<int>(c)) +
              ") in line; the line is ignored");
        return;
      }
    }
    if (line.rfind("%include", 0) == 0 && (line.size() == 8 || is_space(line[8]))) {
      include(std::string(trim(std::string_view(line).substr(8))));
      return;
    }
    if (line[0] == '[') {
      if (line.back() != ']') {
        error("section header must end with ']'; the line is ignored");
        return;
      }
      std::string section = to_lower(trim(std::string_view(line).substr(1, line.size() - 2)));
      if (section != "pooler" && section != "pgbouncer" && section != "databases" &&
          section != "users" && section != "peers" && section != "alerts") {
        events_.emplace_back(
            make_diagnostic(Severity::kWarning, location_, "",
                            "unknown section [" + section + "]; its lines are ignored"));
      }
      split_into_pieces("[" + escape_for_inih(section) + "]", std::string::npos, size);
      return;
    }
    std::size_t equals = line.find('=');
    if (equals == std::string::npos) {
      // The line itself is not quoted back: it may be a password with a typo.
      error("expected 'name = value'; the line is ignored");
      return;
    }
    if (trim(std::string_view(line).substr(0, equals)).empty()) {
      error("missing name before '='; the line is ignored");
      return;
    }
    split_into_pieces(escape_for_inih(line), equals, size);
  }

  void include(const std::string& path) {
    if (path.empty()) {
      error("%include needs a file name");
      return;
    }
    if (sources_.size() > kMaxIncludeDepth) {
      error("%include nested more than " + std::to_string(kMaxIncludeDepth) +
            " deep (an include loop?); '" + path + "' is not read");
      return;
    }
    events_.emplace_back(IncludedFile{path});
    util::Result<std::string> text = read_whole_file(path);
    if (!text) {
      error("cannot read included file '" + path + "': " + text.error());
      return;
    }
    sources_.push_back(Source{path, std::move(*text)});
  }

  // inih reads into a buffer of `size` bytes (200 in Debian's build): a longer line is cut into
  // pieces at points between two non-blank characters (inih trims each piece), the later ones
  // indented so inih passes them on as continuations of the same key (inih's default
  // ini_allow_multiline, which nothing in pooler changes).
  void split_into_pieces(const std::string& line, std::size_t equals, int size) {
    const std::size_t first_cap = size > 8 ? static_cast<std::size_t>(size) - 2 : 0;
    const std::size_t later_cap = first_cap > 2 ? first_cap - 2 : 0;
    if (line.size() <= first_cap) {
      queued_.push_back(line + "\n");
      return;
    }
    std::deque<std::string> pieces;
    std::size_t pos = 0;
    while (pos < line.size()) {
      const bool first = pos == 0;
      const std::size_t cap = first ? first_cap : later_cap;
      std::size_t end = 0;
      if (line.size() - pos <= cap) {
        end = line.size();
      } else if (equals != std::string::npos) {
        const std::size_t lowest = first ? equals + 1 : pos + 1;
        for (std::size_t at = pos + cap; at >= lowest; --at) {
          if (!is_space(line[at - 1]) && !is_space(line[at])) {
            end = at;
            break;
          }
        }
      }
      if (end == 0) {
        error("line is too long to read (" + std::to_string(line.size()) +
              " characters); the line is ignored");
        return;
      }
      std::string piece = line.substr(pos, end - pos) + "\n";
      pieces.push_back(first ? piece : "  " + piece);
      pos = end;
    }
    queued_.insert(queued_.end(), pieces.begin(), pieces.end());
  }

  std::vector<IniEvent>& events_;
  std::vector<Source> sources_;
  std::deque<std::string> queued_;
  Location location_;
  int pieces_sent_ = 0;
  bool continuing_ = false;
};

struct ParseRun {
  std::vector<IniEvent> events;
  LineFeeder feeder{events};
};

int on_ini_entry(void* user, const char* section, const char* name, const char* value) {
  auto& run = *static_cast<ParseRun*>(user);
  if (run.feeder.continuing()) {
    // The feeder queues a long line's pieces back to back, so its entry is the last event.
    if (auto* entry = run.events.empty() ? nullptr : std::get_if<RawEntry>(&run.events.back())) {
      entry->value += unescape(value);
    }
    return 1;
  }
  run.events.emplace_back(RawEntry{to_lower(trim(unescape(section))), unescape(name),
                                   unescape(value), run.feeder.location()});
  return 1;
}

}  // namespace

std::vector<IniEvent> read_ini(const std::string& text, const std::string& file) {
  ParseRun run;
  run.feeder.push(Source{file, text});
  // Every malformed line is reported by the feeder and never reaches inih, and the handler
  // accepts everything, so inih's own error return carries nothing new.
  ini_parse_stream(&LineFeeder::read, &run.feeder, &on_ini_entry, &run);
  return std::move(run.events);
}

Diagnostic make_diagnostic(Severity severity, const Location& where, std::string key,
                           std::string message) {
  return Diagnostic{severity, where.file, where.line, std::move(key), std::move(message)};
}

util::Result<std::string> read_whole_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    return util::Error{std::error_code(errno, std::generic_category()).message()};
  }
  std::string text;
  char buffer[8192];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    text.append(buffer, got);
    if (static_cast<long>(text.size()) > kMaxFileBytes) {
      return util::Error{"file is larger than 64 MiB"};
    }
  }
  if (std::ferror(file.get())) {
    return util::Error{std::error_code(errno, std::generic_category()).message()};
  }
  return text;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace pooler::config
