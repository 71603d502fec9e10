// The built-in alert rules' defaults and their [alerts] keys.
#include "pooler/config/alert_rules.hpp"

#include <charconv>

#include "pooler/config/values.hpp"

namespace pooler::config {

std::vector<AlertRuleSettings> default_alert_rules() {
  return {
      // Active servers over the pool's limit.
      {"PoolSaturated", true, 0.8, std::nullopt, 30, "warning"},
      // The longest current wait for a server, in seconds, while clients wait.
      {"ClientsWaiting", true, 1, std::nullopt, 10, "warning"},
      // Clients refused by query_wait_timeout in the last minute.
      {"WaitTimeoutsHappening", true, 1, std::nullopt, 0, "warning"},
      // Clients over max_client_conn.
      {"ClientConnectionsNearLimit", true, 0.9, std::nullopt, 0, "warning"},
      // Server logins failed in the last minute with none succeeding since.
      {"ServerLoginFailing", true, 1, std::nullopt, 0, "critical"},
      // Open file descriptors over the limit.
      {"FileDescriptorsNearLimit", true, 0.8, std::nullopt, 0, "warning"},
  };
}

namespace {

util::Result<double> parse_number(std::string_view text) {
  text = trim(text);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return util::Error{"expected a number >= 0, got '" + std::string(text) + "'"};
  }
  return value;
}

}  // namespace

std::optional<std::string> apply_alert_setting(std::vector<AlertRuleSettings>& rules,
                                               std::string_view key, std::string_view value) {
  std::size_t dot = key.find('.');
  std::string_view name = key.substr(0, dot);
  AlertRuleSettings* rule = nullptr;
  for (auto& r : rules) {
    if (iequals(r.name, name)) rule = &r;
  }
  if (rule == nullptr) {
    std::string known;
    for (const auto& r : rules) known += (known.empty() ? "" : ", ") + r.name;
    return "unknown alert '" + std::string(name) + "' (known: " + known + ")";
  }
  std::string field = dot == std::string_view::npos ? "" : to_lower(key.substr(dot + 1));
  if (field == "enabled") {
    auto on = parse_bool(value);
    if (!on) return on.error();
    rule->enabled = *on;
  } else if (field == "threshold" || field == "resolve_threshold") {
    auto number = parse_number(value);
    if (!number) return number.error();
    (field == "threshold" ? rule->threshold : rule->resolve_threshold.emplace()) = *number;
  } else if (field == "for") {
    auto seconds = parse_seconds(value);
    if (!seconds) return seconds.error();
    rule->for_seconds = *seconds;
  } else if (field == "severity") {
    auto severity = parse_choice(value, {"info", "warning", "critical"});
    if (!severity) return severity.error();
    rule->severity = *severity;
  } else {
    return "expected <alert>.enabled, .threshold, .resolve_threshold, .for or .severity";
  }
  return std::nullopt;
}

std::optional<std::string> check_alert_rule(const AlertRuleSettings& rule) {
  if (rule.resolve_below() > rule.threshold) {
    return rule.name + ".resolve_threshold must not be above its threshold";
  }
  return std::nullopt;
}

}  // namespace pooler::config
