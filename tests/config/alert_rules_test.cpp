// The [alerts] section: each rule's fields, and the errors that name what is wrong.
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/config/reload_plan.hpp"

namespace {

using pooler::config::parse_config_text;

const pooler::config::AlertRuleSettings& rule(const pooler::config::Config& config,
                                              const std::string& name) {
  for (const auto& r : config.alerts) {
    if (r.name == name) return r;
  }
  FAIL("no rule " << name);
  return config.alerts.front();
}

const char* kBase = "[pooler]\nauth_type = trust\n";

}  // namespace

TEST_CASE("the built-in alerts have the documented defaults") {
  auto result = parse_config_text(kBase, "a.ini");
  REQUIRE(result.ok());
  const auto& saturated = rule(result.config, "PoolSaturated");
  CHECK(saturated.enabled);
  CHECK(saturated.threshold == 0.8);
  CHECK(saturated.for_seconds == 30);
  CHECK(saturated.resolve_below() == 0.8);
  CHECK(rule(result.config, "ClientsWaiting").for_seconds == 10);
  CHECK(rule(result.config, "ServerLoginFailing").severity == "critical");
  CHECK(result.config.alerts.size() == 6);
}

TEST_CASE("[alerts] sets threshold, resolve_threshold, for, severity and enabled per rule") {
  auto result = parse_config_text(std::string(kBase) +
                                      "[alerts]\n"
                                      "PoolSaturated.threshold = 0.9\n"
                                      "PoolSaturated.resolve_threshold = 0.7\n"
                                      "poolsaturated.FOR = 5\n"
                                      "ClientsWaiting.severity = critical\n"
                                      "FileDescriptorsNearLimit.enabled = no\n",
                                  "a.ini");
  REQUIRE_MESSAGE(result.ok(), pooler::config::testing::render(result.diagnostics));
  const auto& saturated = rule(result.config, "PoolSaturated");
  CHECK(saturated.threshold == 0.9);
  CHECK(saturated.resolve_below() == 0.7);
  CHECK(saturated.for_seconds == 5);
  CHECK(rule(result.config, "ClientsWaiting").severity == "critical");
  CHECK_FALSE(rule(result.config, "FileDescriptorsNearLimit").enabled);
}

TEST_CASE("[alerts] errors name the key and what was expected") {
  struct Case {
    const char* line;
    const char* expected;
  };
  for (const Case& c : {Case{"NoSuchAlert.threshold = 1", "unknown alert 'NoSuchAlert'"},
                        Case{"PoolSaturated.threshold = lots", "expected a number"},
                        Case{"PoolSaturated.colour = red", "expected <alert>.enabled"},
                        Case{"PoolSaturated.severity = panic", "panic"},
                        Case{"PoolSaturated.resolve_threshold = 0.95", "must not be above"}}) {
    CAPTURE(c.line);
    auto result = parse_config_text(std::string(kBase) + "[alerts]\n" + c.line + "\n", "a.ini");
    CHECK_FALSE(result.ok());
    CHECK(pooler::config::testing::render(result.diagnostics).find(c.expected) !=
          std::string::npos);
  }
}

TEST_CASE("alert_webhook_url must be http, and a changed [alerts] shows in the reload plan") {
  auto https = parse_config_text(std::string(kBase) + "alert_webhook_url = https://am/\n", "a.ini");
  CHECK_FALSE(https.ok());
  auto running = parse_config_text(kBase, "a.ini");
  auto next = parse_config_text(std::string(kBase) + "[alerts]\nPoolSaturated.for = 1\n", "a.ini");
  REQUIRE(running.ok());
  REQUIRE(next.ok());
  auto plan = pooler::config::diff(running.config, next.config);
  CHECK(plan.alerts_changed);
  CHECK(plan.describe().find("alerts") != std::string::npos);
}
