// Logging set-up: spdlog with PgBouncer-like lines ("LOG C-0x... db/user@addr ...").
#pragma once

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

namespace pooler::util {

struct LogOptions {
  std::string logfile;  // empty: stderr
  int verbose = 0;      // -v count: 1 debug, 2+ trace
  bool quiet = false;   // -q: only warnings and errors
};

// Installs the process-wide logger. Called once by main and tests; nothing else configures spdlog.
void setup_logging(const LogOptions& options);

}  // namespace pooler::util

// An internal invariant broke: log loudly and abort, so a bug never becomes a silent misroute.
#define POOLER_BUG(...)                                                          \
  do {                                                                           \
    spdlog::critical("BUG at {}:{}: {}", __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
    std::abort();                                                                \
  } while (0)
