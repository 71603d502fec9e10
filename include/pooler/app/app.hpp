// App: the composition root. Owns the loop, the config in force, pools, clients, listeners, the
// janitor timer and the signal handlers, and wires them together. Nothing includes app/.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pooler/config/config.hpp"
#include "pooler/util/log.hpp"

namespace pooler::app {

struct RunOptions {
  std::string config_path;
  std::string drop_to_user;  // -u: switch to this user after listening
  // -R: take over from the pooler running with this config: share its port, then tell it
  // (predecessor_pid, from the pidfile; 0 if none runs) to stop accepting and drain.
  bool reboot = false;
  int predecessor_pid = 0;
  // -q, -v and -d as given: every configuration adds its log settings to them.
  util::LogOptions command_line_log;
};

// The logging a configuration asks for: its logfile, verbose (added to the -v count) and syslog
// settings over the command line's -q, -v and -d.
util::LogOptions log_options_for(const config::Settings& settings,
                                 const util::LogOptions& command_line);

// Builds the TLS contexts the settings ask for, as a start would (files loaded, key permissions
// checked): for --check. The error names the side and the file.
std::optional<std::string> check_tls(const config::Settings& settings);

class App {
 public:
  App(std::shared_ptr<const config::Config> config, RunOptions options);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Listens and serves until a shutdown signal. Returns the process exit code.
  int run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pooler::app
