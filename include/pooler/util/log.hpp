// Logging set-up: spdlog with PgBouncer's line shape ("2024-05-01 12:00:00.123 +0000 [42] LOG
// C-0x... db/user@addr ..."), sent to stderr, the log file and syslog, each at its own level.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace pooler::util {

struct LogOptions {
  std::string logfile;  // empty: no log file
  int verbose = 0;      // -v count plus the verbose setting: 1 DEBUG, 2 and more NOISE
  bool quiet = false;   // -q: nothing on stderr; the log file and syslog keep their levels
  bool daemon = false;  // stderr is /dev/null: nothing goes there either
  bool syslog = false;  // also send LOG and above to syslog(3) ...
  std::string syslog_ident = "pgbouncer";  // ... as this program name ...
  std::string syslog_facility =
      "daemon";  // ... with this facility (a config::syslog_facilities name)
};

// Which sink gets which lines; nullopt: the sink is not installed. PgBouncer's rules: stderr
// unless -q or daemonized, the log file when set, both at the verbosity; syslog when enabled, at
// LOG and above whatever the verbosity.
struct SinkPlan {
  spdlog::level::level_enum logger_level = spdlog::level::info;
  std::optional<spdlog::level::level_enum> stderr_level;
  std::optional<spdlog::level::level_enum> file_level;
  std::optional<spdlog::level::level_enum> syslog_level;
  int syslog_facility = 0;  // LOG_DAEMON and the like
};
SinkPlan plan_sinks(const LogOptions& options);

// LOG_DAEMON, LOG_LOCAL0 ... for a facility name (auth, authpriv, daemon, user, local0-7).
std::optional<int> syslog_facility_code(std::string_view name);

// The level word PgBouncer prints: FATAL, ERROR, WARNING, LOG, DEBUG, NOISE.
std::string_view level_word(spdlog::level::level_enum level);

// Installs the process-wide logger on first use and (re)builds its sinks from `options`: the log
// file is reopened (after rotation, as PgBouncer's reload does), syslog restarted with the new
// ident and facility, levels set. Returns why the log file cannot be opened, leaving the previous
// sinks in place. Only main and the app's reload call it; nothing else configures spdlog.
std::optional<std::string> configure_logging(const LogOptions& options);

}  // namespace pooler::util

// An internal invariant broke: log loudly and abort, so a bug never becomes a silent misroute.
#define POOLER_BUG(...)                                                                 \
  do {                                                                                  \
    spdlog::critical("BUG at {}:{}: {}", __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
    std::abort();                                                                       \
  } while (0)
