// Diagnostics: rendering config problems the way compilers do, so editors can jump to them.
#include "pooler/config/diagnostics.hpp"

#include <algorithm>

namespace pooler::config {

std::string format(const Diagnostic& diagnostic) {
  std::string text = diagnostic.file.empty() ? "<config>" : diagnostic.file;
  if (diagnostic.line > 0) {
    text += ':';
    text += std::to_string(diagnostic.line);
  }
  text += diagnostic.severity == Severity::kError ? ": error: " : ": warning: ";
  if (!diagnostic.key.empty()) {
    text += diagnostic.key + ": ";
  }
  return text + diagnostic.message;
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

}  // namespace pooler::config
