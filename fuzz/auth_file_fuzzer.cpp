// libFuzzer entry point for the auth_file (userlist.txt) parser. Besides no crash and no UB:
// every diagnostic names a line of the input that holds something; what was read writes back in
// the same format and reads back the same, without errors; and no message quotes what follows a
// line's user name, where the password is (checked with a marker appended to each entry line).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pooler/config/diagnostics.hpp"
#include "pooler/config/loader.hpp"

namespace {

namespace config = pooler::config;
using pooler::fuzz::require;
using Users = std::map<std::string, config::UserSecret>;

constexpr const char* kFile = "userlist.txt";
constexpr std::string_view kMarker = "zq-marker-secret-qz";

Users parse(const std::string& text, std::vector<config::Diagnostic>& diagnostics) {
  return config::parse_auth_file_text(text, kFile, diagnostics);
}

void check_diagnostics(const std::vector<config::Diagnostic>& diagnostics, std::string_view text) {
  const auto lines = pooler::fuzz::lines_of(text);
  for (const config::Diagnostic& d : diagnostics) {
    require(d.file == kFile && !d.message.empty());
    require(pooler::fuzz::names_a_content_line(lines, d.line));
  }
}

std::string quoted(std::string_view field) {
  std::string out = "\"";
  for (char c : field) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  return out + "\"";
}

void check_round_trip(const Users& users) {
  std::string written;
  for (const auto& [name, entry] : users) {
    require(!name.empty() && entry.user == name);
    written += quoted(name) + " " + quoted(entry.secret) + "\n";
  }
  std::vector<config::Diagnostic> diagnostics;
  require(parse(written, diagnostics) == users);
  require(!config::has_errors(diagnostics));
}

// Every line that starts with a quote (an entry, well-formed or not) gets the marker after its
// own text. The user field begins at the line's first quote and the marker's opening quote ends
// it at the latest, so the marker always sits where the password or trailing text is.
void check_secrecy(const std::string& text) {
  std::string marked;
  for (std::string_view line : pooler::fuzz::lines_of(text)) {
    marked.append(line);
    std::size_t first = line.find_first_not_of(" \t\r\n\f\v");
    if (first != std::string_view::npos && line[first] == '"') {
      marked.append(" \"").append(kMarker).append("\"");
    }
    marked += '\n';
  }
  std::vector<config::Diagnostic> diagnostics;
  parse(marked, diagnostics);
  for (const config::Diagnostic& d : diagnostics) {
    require(d.message.find(kMarker) == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find(kMarker) != std::string::npos) {
    return -1;
  }
  std::vector<config::Diagnostic> diagnostics;
  const Users users = parse(text, diagnostics);
  check_diagnostics(diagnostics, text);
  check_round_trip(users);
  check_secrecy(text);
  return 0;
}
