// config_watch: the files the running config reads are watched, and a change reloads exactly as
// RELOAD does (all or nothing, the same log lines). Kubernetes updates a mounted ConfigMap or
// Secret by swapping a symlink, which nothing would otherwise notice.
#include <spdlog/spdlog.h>

#include "app_state.hpp"

namespace pooler::app {

namespace {

// An editor's save or a kubelet's update is several events; the reload waits for them to stop.
constexpr std::chrono::milliseconds kSettle{250};

std::vector<std::string> watched_files(const config::Config& config, const std::string& ini) {
  const config::Settings& s = config.settings;
  std::vector<std::string> files = config.included_files;
  files.insert(files.end(), {ini,
          s.auth_file,
          s.auth_hba_file,
          s.auth_ident_file,
          s.client_tls_key_file,
          s.client_tls_cert_file,
          s.client_tls_ca_file,
          s.server_tls_key_file,
          s.server_tls_cert_file,
          s.server_tls_ca_file});
  return files;
}

}  // namespace

void App::State::apply_config_watch() {
  if (!config->settings.config_watch) {
    // This may run inside the watch's own callback (a reload that turned it off): it goes
    // once the callback has returned.
    if (config_watch) graveyard.bury(std::move(config_watch));
    return;
  }
  if (!config_watch) {
    config_watch = std::make_unique<net::FileWatch>(
        loop, kSettle, [this](const std::vector<std::string>& paths) {
          spdlog::info("config_watch: {} changed, re-reading config", fmt::join(paths, ", "));
          reload_config();
        });
  }
  for (const std::string& failure : config_watch->watch(watched_files(*config,
                                                                      options.config_path))) {
    spdlog::warn("config_watch: cannot watch {}", failure);
  }
}

}  // namespace pooler::app
