// The process logger: one spdlog logger whose only sink is a dist_sink, so reload can swap the
// stderr, file and syslog sinks under the dist_sink's lock while other threads keep logging.
#include "pooler/util/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <syslog.h>
#include <unistd.h>

#include <array>
#include <utility>
#include <vector>

namespace pooler::util {
namespace {

constexpr const char* kLoggerName = "pooler";

// Prints the level as PgBouncer does, so operators' greps for WARNING or LOG keep working.
class LevelWordFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view word = level_word(msg.level);
    dest.append(word.data(), word.data() + word.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelWordFlag>();
  }
};

std::unique_ptr<spdlog::formatter> pgbouncer_formatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  // Timestamp, [pid], level word, message. The pid is fixed for the process: spdlog's %P would
  // call getpid() on every line.
  formatter->add_flag<LevelWordFlag>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %z [" +
                                                      std::to_string(getpid()) + "] %* %v");
  return formatter;
}

spdlog::level::level_enum level_for(int verbose) {
  if (verbose >= 2) {
    return spdlog::level::trace;
  }
  return verbose == 1 ? spdlog::level::debug : spdlog::level::info;
}

// The dist_sink the process logger writes through, created with the logger on first use.
std::shared_ptr<spdlog::sinks::dist_sink_mt> process_sinks() {
  if (auto logger = spdlog::get(kLoggerName)) {
    return std::static_pointer_cast<spdlog::sinks::dist_sink_mt>(logger->sinks().front());
  }
  auto dist = std::make_shared<spdlog::sinks::dist_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(kLoggerName, dist);
  // Every line reaches the file at once, as PgBouncer writes unbuffered: a crash loses nothing.
  logger->flush_on(spdlog::level::trace);
  spdlog::register_logger(logger);
  spdlog::set_default_logger(logger);
  return dist;
}

}  // namespace

SinkPlan plan_sinks(const LogOptions& options) {
  SinkPlan plan;
  const spdlog::level::level_enum level = level_for(options.verbose);
  plan.logger_level = level;
  if (!options.quiet && !options.daemon) {
    plan.stderr_level = level;
  }
  if (!options.logfile.empty()) {
    plan.file_level = level;
  }
  if (options.syslog) {
    plan.syslog_level = spdlog::level::info;
    // The config only admits known names; PgBouncer also falls back to daemon.
    plan.syslog_facility = syslog_facility_code(options.syslog_facility).value_or(LOG_DAEMON);
  }
  return plan;
}

std::optional<int> syslog_facility_code(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, int>, 12> kFacilities = {{
      {"auth", LOG_AUTH},
      {"authpriv", LOG_AUTHPRIV},
      {"daemon", LOG_DAEMON},
      {"user", LOG_USER},
      {"local0", LOG_LOCAL0},
      {"local1", LOG_LOCAL1},
      {"local2", LOG_LOCAL2},
      {"local3", LOG_LOCAL3},
      {"local4", LOG_LOCAL4},
      {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6},
      {"local7", LOG_LOCAL7},
  }};
  for (const auto& [known, code] : kFacilities) {
    if (known == name) {
      return code;
    }
  }
  return std::nullopt;
}

std::string_view level_word(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "NOISE";
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "LOG";
    case spdlog::level::warn:
      return "WARNING";
    case spdlog::level::err:
      return "ERROR";
    case spdlog::level::critical:
      return "FATAL";
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return "LOG";
}

std::optional<std::string> configure_logging(const LogOptions& options) {
  const SinkPlan plan = plan_sinks(options);
  std::vector<spdlog::sink_ptr> sinks;
  if (plan.stderr_level) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(pgbouncer_formatter());
    sink->set_level(*plan.stderr_level);
    sinks.push_back(std::move(sink));
  }
  if (plan.file_level) {
    try {
      auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.logfile);
      sink->set_formatter(pgbouncer_formatter());
      sink->set_level(*plan.file_level);
      sinks.push_back(std::move(sink));
    } catch (const spdlog::spdlog_ex& e) {
      return "cannot open logfile '" + options.logfile + "': " + e.what();
    }
  }
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist = process_sinks();
  // The old syslog sink must be gone before the new one calls openlog(): its destructor's
  // closelog() would otherwise drop the new ident.
  dist->set_sinks(sinks);
  if (plan.syslog_level) {
    // syslog adds time, ident and pid itself (LOG_PID, as PgBouncer): only the message goes.
    auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(
        options.syslog_ident, LOG_PID, plan.syslog_facility, /*enable_formatting=*/false);
    sink->set_level(*plan.syslog_level);
    dist->add_sink(std::move(sink));
  }
  spdlog::get(kLoggerName)->set_level(plan.logger_level);
  return std::nullopt;
}

}  // namespace pooler::util
