// Diagnostic: one problem found in a config file, always naming where it is.
#pragma once

#include <string>
#include <vector>

namespace pooler::config {

enum class Severity { kWarning, kError };

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;  // 0 when the problem is not tied to a line (e.g. a missing value)
  std::string key;
  std::string message;
};

// "file:line: error: key: message" (line and key left out when unknown).
std::string format(const Diagnostic& diagnostic);

bool has_errors(const std::vector<Diagnostic>& diagnostics);

}  // namespace pooler::config
