// pooler's command line, shaped like pgbouncer's: options, config check, daemonizing, pidfile.
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "pooler/app/app.hpp"
#include "pooler/app/pidfile.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/util/log.hpp"

namespace {

void print_usage(std::ostream& out) {
  out << "pooler is a PostgreSQL connection pooler.\n\n"
         "Usage:\n"
         "  pooler [OPTION]... CONFIG_FILE\n\n"
         "Options:\n"
         "  -d, --daemon         run in background (as a daemon)\n"
         "  -q, --quiet          run quietly: nothing on stderr (the log file is unchanged)\n"
         "  -v, --verbose        increase verbosity (repeatable)\n"
         "  -u, --user=USERNAME  assume identity of USERNAME\n"
         "  -R, --reboot         take over from the running pooler: share its port, then let\n"
         "                       it drain and exit\n"
         "      --check          validate the configuration, print every problem, and exit\n"
         "  -V, --version        show version, then exit\n"
         "  -h, --help           show this help, then exit\n";
}

bool daemonize() {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid > 0) _exit(0);
  if (setsid() < 0) return false;
  pid = fork();
  if (pid < 0) return false;
  if (pid > 0) _exit(0);
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) close(fd);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool daemon = false;
  bool check = false;
  pooler::app::RunOptions run_options;
  pooler::util::LogOptions& log_options = run_options.command_line_log;
  static const option long_options[] = {
      {"daemon", no_argument, nullptr, 'd'}, {"quiet", no_argument, nullptr, 'q'},
      {"verbose", no_argument, nullptr, 'v'}, {"user", required_argument, nullptr, 'u'},
      {"version", no_argument, nullptr, 'V'}, {"help", no_argument, nullptr, 'h'},
      {"check", no_argument, nullptr, 'C'},  {"reboot", no_argument, nullptr, 'R'},
      {nullptr, 0, nullptr, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "dqvRu:Vh", long_options, nullptr)) != -1) {
    switch (opt) {
      case 'R':
        run_options.reboot = true;
        break;
      case 'd':
        daemon = true;
        break;
      case 'q':
        log_options.quiet = true;
        break;
      case 'v':
        ++log_options.verbose;
        break;
      case 'u':
        run_options.drop_to_user = optarg;
        break;
      case 'V':
        std::cout << "pooler " << POOLER_VERSION << "\n";
        return 0;
      case 'h':
        print_usage(std::cout);
        return 0;
      case 'C':
        check = true;
        break;
      default:
        print_usage(std::cerr);
        return 1;
    }
  }
  if (optind != argc - 1) {
    std::cerr << "pooler: exactly one config file is required\n";
    print_usage(std::cerr);
    return 1;
  }
  run_options.config_path = argv[optind];

  auto loaded = pooler::config::load_config_file(run_options.config_path);
  if (check) {
    for (const auto& d : loaded.diagnostics) std::cout << pooler::config::format(d) << "\n";
    // The TLS files too: a key others can read or a certificate that does not load would
    // otherwise pass the check and stop the start.
    std::optional<std::string> tls_error;
    if (loaded.ok()) tls_error = pooler::app::check_tls(loaded.config.settings);
    if (tls_error) std::cout << run_options.config_path << ": error: " << *tls_error << "\n";
    bool valid = loaded.ok() && !tls_error;
    std::cout << (valid ? "configuration is valid\n" : "configuration has errors\n");
    return valid ? 0 : 1;
  }
  if (!loaded.ok()) {
    // Before any log exists: the reasons go to stderr even under -q, or the exit would be mute.
    for (const auto& d : loaded.diagnostics) std::cerr << pooler::config::format(d) << "\n";
    return 1;
  }

  const auto& settings = loaded.config.settings;
  const std::string& pidfile = settings.pidfile;
  if (!pidfile.empty()) {
    run_options.predecessor_pid = pooler::app::running_pid(pidfile);
    if (run_options.predecessor_pid != 0 && !run_options.reboot) {
      std::cerr << "pooler: pidfile " << pidfile << " names a running process ("
                << run_options.predecessor_pid << "); stop it first, or take over with -R\n";
      return 1;
    }
  }
  if (daemon) {
    if (settings.logfile.empty()) {
      std::cerr << "pooler: -d requires logfile to be set, or the log would be lost\n";
      return 1;
    }
    if (!daemonize()) {
      std::cerr << "pooler: cannot daemonize: " << std::strerror(errno) << "\n";
      return 1;
    }
    log_options.daemon = true;
  }
  if (auto error =
          pooler::util::configure_logging(pooler::app::log_options_for(settings, log_options))) {
    std::cerr << "pooler: " << *error << "\n";
    return 1;
  }
  // Warnings only by now: logged, so they reach the log file and syslog too.
  for (const auto& d : loaded.diagnostics) spdlog::warn("{}", pooler::config::format(d));

  std::string own_pidfile = pidfile;  // the config moves into the app below
  if (!own_pidfile.empty() && !pooler::app::write_pidfile(own_pidfile)) {
    spdlog::warn("cannot write pidfile {}", own_pidfile);
  }
  int rc;
  {
    pooler::app::App app(std::make_shared<const pooler::config::Config>(std::move(loaded.config)),
                         run_options);
    rc = app.run();
  }
  if (!own_pidfile.empty()) pooler::app::remove_pidfile_if_ours(own_pidfile);
  return rc;
}
