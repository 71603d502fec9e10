// Installs the spdlog sink and pattern that every log line of the process goes through.
#include "pooler/util/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

namespace pooler::util {

void setup_logging(const LogOptions& options) {
  std::shared_ptr<spdlog::logger> logger;
  if (options.logfile.empty()) {
    logger = spdlog::stderr_logger_mt("pooler");
  } else {
    logger = spdlog::basic_logger_mt("pooler", options.logfile);
  }
  // PgBouncer's shape: timestamp, pid, level word, message.
  // The pid is fixed for the logger's life: spdlog's %P would call getpid() on every line.
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %z [" + std::to_string(getpid()) + "] %^%l%$ %v");
  spdlog::level::level_enum level = spdlog::level::info;
  if (options.quiet) level = spdlog::level::warn;
  if (options.verbose == 1) level = spdlog::level::debug;
  if (options.verbose >= 2) level = spdlog::level::trace;
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace pooler::util
