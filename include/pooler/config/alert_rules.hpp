// AlertRuleSettings: the pooler's built-in saturation alerts and their [alerts] section, where
// `<AlertName>.<field> = value` sets threshold, resolve_threshold, for, severity or enabled.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pooler::config {

struct AlertRuleSettings {
  std::string name;
  bool enabled = true;
  double threshold = 0;  // fires when the value reaches it ...
  std::optional<double> resolve_threshold;  // ... and resolves below this (default: threshold)
  double for_seconds = 0;  // the value must hold this long before the alert fires
  std::string severity = "warning";

  double resolve_below() const { return resolve_threshold.value_or(threshold); }
  bool operator==(const AlertRuleSettings&) const = default;
};

// Every built-in rule with its default, in a fixed order.
std::vector<AlertRuleSettings> default_alert_rules();

// Applies one [alerts] line to `rules`; a message saying what is wrong otherwise.
std::optional<std::string> apply_alert_setting(std::vector<AlertRuleSettings>& rules,
                                               std::string_view key, std::string_view value);

// A problem with a rule as a whole (resolve_threshold above threshold), or nullopt.
std::optional<std::string> check_alert_rule(const AlertRuleSettings& rule);

}  // namespace pooler::config
