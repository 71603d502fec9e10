// Helpers shared by the config tests: diagnostics as readable text and scratch directories.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pooler/config/diagnostics.hpp"

namespace pooler::config::testing {

// Every diagnostic, one per line, so a failing CHECK shows what the parser said.
inline std::string render(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const Diagnostic& diagnostic : diagnostics) {
    text += format(diagnostic) + "\n";
  }
  return text;
}

// The only diagnostic, or a failed test when there is not exactly one.
inline Diagnostic only(const std::vector<Diagnostic>& diagnostics) {
  if (diagnostics.size() != 1) {
    FAIL("expected exactly one diagnostic, got:\n" << render(diagnostics));
  }
  return diagnostics.front();
}

// A fresh directory under $TMPDIR, removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pooler-config-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      FAIL("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string write(const std::string& name, const std::string& text) const {
    std::string file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  std::string path(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace pooler::config::testing
