// Logging: which sink gets which lines (-q, -d, verbose, syslog), PgBouncer's level words, and the
// process logger rebuilt on reload (verbose live, log file reopened, syslog sink installed).
#include "pooler/util/log.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/syslog_sink.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pooler/config/values.hpp"

namespace pooler::util {
namespace {

using spdlog::level::level_enum;

TEST_CASE("without -q the log goes to stderr and to the log file, both at the verbosity") {
  LogOptions options;
  options.logfile = "/var/log/pooler.log";
  SinkPlan plan = plan_sinks(options);
  CHECK(plan.stderr_level == level_enum::info);
  CHECK(plan.file_level == level_enum::info);
  CHECK_FALSE(plan.syslog_level.has_value());
  CHECK(plan_sinks(LogOptions{}).stderr_level == level_enum::info);
  CHECK_FALSE(plan_sinks(LogOptions{}).file_level.has_value());
}

TEST_CASE("-q silences stderr only: the log file keeps the configured verbosity") {
  LogOptions options;
  options.logfile = "/var/log/pooler.log";
  options.quiet = true;
  options.verbose = 1;
  SinkPlan plan = plan_sinks(options);
  CHECK_FALSE(plan.stderr_level.has_value());
  CHECK(plan.file_level == level_enum::debug);
  CHECK(plan.logger_level == level_enum::debug);
}

TEST_CASE("a daemon writes nothing to stderr, which is /dev/null") {
  LogOptions options;
  options.logfile = "/var/log/pooler.log";
  options.daemon = true;
  CHECK_FALSE(plan_sinks(options).stderr_level.has_value());
  CHECK(plan_sinks(options).file_level == level_enum::info);
}

TEST_CASE("verbose 1 is DEBUG, 2 and more NOISE") {
  LogOptions options;
  options.verbose = 1;
  CHECK(plan_sinks(options).stderr_level == level_enum::debug);
  options.verbose = 2;
  CHECK(plan_sinks(options).stderr_level == level_enum::trace);
  options.verbose = 5;
  CHECK(plan_sinks(options).logger_level == level_enum::trace);
}

TEST_CASE("syslog gets LOG and above with the configured facility, whatever the verbosity") {
  LogOptions options;
  options.syslog = true;
  options.syslog_facility = "local0";
  options.verbose = 2;
  SinkPlan plan = plan_sinks(options);
  CHECK(plan.syslog_level == level_enum::info);
  CHECK(plan.syslog_facility == LOG_LOCAL0);
  CHECK(plan.stderr_level == level_enum::trace);
}

TEST_CASE("every facility name the config accepts maps to its syslog.h code") {
  CHECK(syslog_facility_code("auth") == LOG_AUTH);
  CHECK(syslog_facility_code("authpriv") == LOG_AUTHPRIV);
  CHECK(syslog_facility_code("daemon") == LOG_DAEMON);
  CHECK(syslog_facility_code("user") == LOG_USER);
  CHECK(syslog_facility_code("local0") == LOG_LOCAL0);
  CHECK(syslog_facility_code("local3") == LOG_LOCAL3);
  CHECK(syslog_facility_code("local7") == LOG_LOCAL7);
  CHECK(syslog_facility_code("LOG_LOCAL0") == std::nullopt);  // the config stores "local0"
  CHECK(syslog_facility_code("kern") == std::nullopt);
  for (std::string_view name : config::syslog_facilities()) {
    CAPTURE(name);
    CHECK(syslog_facility_code(name).has_value());
  }
  auto parsed = config::parse_syslog_facility("LOG_LOCAL5");
  REQUIRE(parsed.ok());
  CHECK(syslog_facility_code(*parsed) == LOG_LOCAL5);
}

TEST_CASE("levels print as PgBouncer's words") {
  CHECK(level_word(level_enum::critical) == "FATAL");
  CHECK(level_word(level_enum::err) == "ERROR");
  CHECK(level_word(level_enum::warn) == "WARNING");
  CHECK(level_word(level_enum::info) == "LOG");
  CHECK(level_word(level_enum::debug) == "DEBUG");
  CHECK(level_word(level_enum::trace) == "NOISE");
}

// Points the process logger at a scratch log file for one test and restores the test runner's
// logger afterwards.
class ScratchLog {
 public:
  ScratchLog() : previous_(spdlog::default_logger()) {
    std::string pattern = std::filesystem::temp_directory_path() / "pooler-log-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
  }
  ~ScratchLog() {
    spdlog::drop("pooler");
    spdlog::set_default_logger(previous_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ScratchLog(const ScratchLog&) = delete;
  ScratchLog& operator=(const ScratchLog&) = delete;

  std::string path(const std::string& name) const { return dir_ / name; }
  static std::string read(const std::string& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static LogOptions to_file(const std::string& file, int verbose = 0) {
    LogOptions options;
    options.logfile = file;
    options.quiet = true;  // keep the test output clean
    options.verbose = verbose;
    return options;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::filesystem::path dir_;
};

TEST_CASE("log file lines have PgBouncer's shape: time, [pid], level word, message") {
  ScratchLog scratch;
  const std::string file = scratch.path("pooler.log");
  REQUIRE_FALSE(configure_logging(ScratchLog::to_file(file)).has_value());
  spdlog::info("hello");
  spdlog::warn("careful");
  spdlog::error("broken");
  spdlog::debug("hidden");
  const std::string text = ScratchLog::read(file);
  const std::string pid = "[" + std::to_string(getpid()) + "] ";
  CHECK(text.find(pid + "LOG hello\n") != std::string::npos);
  CHECK(text.find(pid + "WARNING careful\n") != std::string::npos);
  CHECK(text.find(pid + "ERROR broken\n") != std::string::npos);
  CHECK(text.find("hidden") == std::string::npos);
  CHECK(text.substr(0, 2) == "20");
}

TEST_CASE("reconfiguring applies verbose at once and reopens a rotated log file") {
  ScratchLog scratch;
  const std::string file = scratch.path("pooler.log");
  REQUIRE_FALSE(configure_logging(ScratchLog::to_file(file)).has_value());
  spdlog::debug("before");
  REQUIRE_FALSE(configure_logging(ScratchLog::to_file(file, 1)).has_value());
  spdlog::debug("after");
  std::filesystem::rename(file, scratch.path("pooler.log.1"));
  spdlog::info("still the old file");
  REQUIRE_FALSE(configure_logging(ScratchLog::to_file(file, 2)).has_value());
  spdlog::trace("noise in the new file");
  const std::string old_text = ScratchLog::read(scratch.path("pooler.log.1"));
  CHECK(old_text.find("before") == std::string::npos);
  CHECK(old_text.find("DEBUG after") != std::string::npos);
  CHECK(old_text.find("LOG still the old file") != std::string::npos);
  CHECK(ScratchLog::read(file).find("NOISE noise in the new file") != std::string::npos);
}

TEST_CASE("a log file that cannot be opened is an error and the previous sinks stay") {
  ScratchLog scratch;
  const std::string file = scratch.path("pooler.log");
  REQUIRE_FALSE(configure_logging(ScratchLog::to_file(file)).has_value());
  // Under a regular file: no directory can be made there.
  const std::string bad = file + "/pooler.log";
  std::optional<std::string> error = configure_logging(ScratchLog::to_file(bad));
  REQUIRE(error.has_value());
  CHECK(error->find("cannot open logfile '" + bad + "'") == 0);
  spdlog::info("kept");
  CHECK(ScratchLog::read(file).find("LOG kept") != std::string::npos);
}

TEST_CASE("syslog = 1 installs a syslog sink beside the file, and turning it off removes it") {
  ScratchLog scratch;
  LogOptions options = ScratchLog::to_file(scratch.path("pooler.log"));
  options.syslog = true;
  options.syslog_ident = "pooler-test";
  options.syslog_facility = "local0";
  REQUIRE_FALSE(configure_logging(options).has_value());
  auto dist = std::dynamic_pointer_cast<spdlog::sinks::dist_sink_mt>(
      spdlog::default_logger()->sinks().front());
  REQUIRE(dist != nullptr);
  auto count_syslog = [&] {
    int found = 0;
    for (const auto& sink : dist->sinks()) {
      if (auto syslog = std::dynamic_pointer_cast<spdlog::sinks::syslog_sink_mt>(sink)) {
        CHECK(syslog->level() == level_enum::info);
        ++found;
      }
    }
    return found;
  };
  CHECK(dist->sinks().size() == 2);
  CHECK(count_syslog() == 1);
  REQUIRE_FALSE(configure_logging(options).has_value());
  CHECK(count_syslog() == 1);
  options.syslog = false;
  REQUIRE_FALSE(configure_logging(options).has_value());
  CHECK(count_syslog() == 0);
  CHECK(dist->sinks().size() == 1);
}

}  // namespace
}  // namespace pooler::util
