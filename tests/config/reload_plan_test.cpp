// What a reload changes, and which keys wait for a restart.
#include <doctest/doctest.h>

#include <memory>

#include "pooler/config/hba.hpp"
#include "pooler/config/ident_map.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/config/reload_plan.hpp"

using pooler::config::parse_config_text;

namespace {

pooler::config::Config parse(const std::string& text) {
  auto result = parse_config_text(text, "reload.ini");
  REQUIRE(result.ok());
  return result.config;
}

const char* kRunning =
    "[databases]\n"
    "app = host=127.0.0.1 port=5432\n"
    "old = host=127.0.0.1 dbname=legacy\n"
    "[pooler]\n"
    "auth_type = trust\n"
    "listen_port = 6432\n"
    "default_pool_size = 20\n";

}  // namespace

TEST_CASE("a reload plan names changed settings, added, removed and changed databases") {
  auto running = parse(kRunning);
  auto next = parse(
      "[databases]\n"
      "app = host=127.0.0.1 port=5433\n"
      "new = host=127.0.0.1\n"
      "[pooler]\n"
      "auth_type = trust\n"
      "listen_port = 6432\n"
      "default_pool_size = 40\n");
  auto plan = pooler::config::diff(running, next);
  CHECK(plan.changed_settings == std::vector<std::string>{"default_pool_size"});
  CHECK(plan.needs_restart.empty());
  CHECK(plan.added_databases == std::vector<std::string>{"new"});
  CHECK(plan.removed_databases == std::vector<std::string>{"old"});
  CHECK(plan.changed_databases == std::vector<std::string>{"app"});
  CHECK(plan.describe() ==
        "settings changed: default_pool_size; databases added: new; databases removed: old; "
        "databases changed: app");
}

TEST_CASE("moving a database line without changing it is no change") {
  auto running = parse(kRunning);
  auto next = parse(
      "[databases]\n\n\n"
      "old = host=127.0.0.1 dbname=legacy\n"
      "app = host=127.0.0.1 port=5432\n"
      "[pooler]\n"
      "auth_type = trust\n"
      "listen_port = 6432\n"
      "default_pool_size = 20\n");
  auto plan = pooler::config::diff(running, next);
  CHECK(plan.empty());
  CHECK(plan.describe() == "no changes");
}

TEST_CASE("restart-only keys keep their running value after a reload") {
  auto running = parse(kRunning);
  auto next = parse(
      "[databases]\n"
      "app = host=127.0.0.1 port=5432\n"
      "[pooler]\n"
      "auth_type = trust\n"
      "listen_port = 7000\n"
      "default_pool_size = 30\n");
  auto plan = pooler::config::diff(running, next);
  CHECK(plan.needs_restart == std::vector<std::string>{"listen_port"});
  pooler::config::keep_restart_settings(running, next);
  CHECK(next.settings.listen_port == 6432);
  CHECK(next.settings.default_pool_size == 30);
}

TEST_CASE("a changed auth_file secret is reported without naming the user") {
  auto running = parse(kRunning);
  auto next = running;
  running.auth_users["alice"] = {"alice", "old"};
  next.auth_users["alice"] = {"alice", "new"};
  auto plan = pooler::config::diff(running, next);
  CHECK(plan.auth_file_changed);
  CHECK(plan.describe() == "auth_file: changed");
}

TEST_CASE("changed hba rules or ident maps are reported; the same files read again are not") {
  auto running = parse(kRunning);
  std::vector<pooler::config::Diagnostic> ignored;
  auto rules = [&](const std::string& text) {
    return std::make_shared<pooler::config::HbaRules>(
        pooler::config::parse_hba_text(text, "hba.conf", nullptr, ignored));
  };
  auto maps = [&](const std::string& text) {
    return std::make_shared<pooler::config::IdentMaps>(
        pooler::config::parse_ident_text(text, "ident.conf", ignored));
  };
  running.hba = rules("local all all trust\n");
  running.ident_maps = maps("os /^(.*)$ \\1\n");
  auto next = running;
  next.hba = rules("local all all trust\n");
  next.ident_maps = maps("os /^(.*)$ \\1\n");
  CHECK(pooler::config::diff(running, next).empty());
  next.hba = rules("local all all reject\n");
  auto plan = pooler::config::diff(running, next);
  CHECK(plan.hba_changed);
  CHECK(plan.describe() == "hba: changed");
  next.hba = running.hba;
  next.ident_maps = maps("os /^(.*)$ admin\n");
  CHECK(pooler::config::diff(running, next).hba_changed);
  next.ident_maps = nullptr;
  CHECK(pooler::config::diff(running, next).hba_changed);
}
