// Single config values as text: the parsers behind every typed key, with messages that say
// what was expected.
#include "pooler/config/values.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace pooler::config {
namespace {

// Downstream code turns durations into integer microseconds; a bound here keeps that exact.
constexpr double kMaxSeconds = 1e9;
// A value is quoted back in messages; a pasted paragraph should not flood the log.
constexpr std::size_t kMaxQuoted = 64;

std::string quoted(std::string_view text) {
  if (text.empty()) {
    return "an empty value";
  }
  if (text.size() > kMaxQuoted) {
    return std::string("'").append(text.substr(0, kMaxQuoted)).append("...'");
  }
  return std::string("'").append(text).append("'");
}

util::Error range_error(std::int64_t min, std::int64_t max, std::string_view text) {
  if (max == std::numeric_limits<std::int64_t>::max() || max == std::numeric_limits<int>::max()) {
    return util::Error{"must be at least " + std::to_string(min) + ", got " + quoted(text)};
  }
  return util::Error{"must be between " + std::to_string(min) + " and " + std::to_string(max) +
                     ", got " + quoted(text)};
}

util::Result<std::int64_t> parse_int_base(std::string_view text, std::int64_t min, std::int64_t max,
                                          int base, const char* expected) {
  text = trim(text);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || end != text.data() + text.size() || ec == std::errc::invalid_argument) {
    return util::Error{std::string("expected ") + expected + ", got " + quoted(text)};
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return range_error(min, max, text);
  }
  return value;
}

}  // namespace

util::Result<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max) {
  return parse_int_base(text, min, max, 10, "an integer");
}

util::Result<std::int64_t> parse_file_mode(std::string_view text) {
  text = trim(text);
  if (text.size() > 1 && text[0] == '0') {
    return parse_int_base(text.substr(1), 0, 07777, 8, "an octal file mode such as 0777");
  }
  return parse_int_base(text, 0, 07777, 10, "an octal file mode such as 0777");
}

util::Result<double> parse_seconds(std::string_view text) {
  text = trim(text);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size() || ec != std::errc() ||
      !std::isfinite(value)) {
    return util::Error{"expected a duration in seconds, got " + quoted(text)};
  }
  if (value < 0) {
    return util::Error{"must not be negative, got " + quoted(text)};
  }
  if (value > kMaxSeconds) {
    return util::Error{"must be at most 1000000000 seconds, got " + quoted(text)};
  }
  return value;
}

util::Result<bool> parse_bool(std::string_view text) {
  static constexpr std::array<std::string_view, 4> kTrue = {"1", "yes", "on", "true"};
  static constexpr std::array<std::string_view, 4> kFalse = {"0", "no", "off", "false"};
  text = trim(text);
  auto matches = [&](std::string_view word) { return iequals(word, text); };
  if (std::any_of(kTrue.begin(), kTrue.end(), matches)) {
    return true;
  }
  if (std::any_of(kFalse.begin(), kFalse.end(), matches)) {
    return false;
  }
  return util::Error{"expected a boolean (0/1, yes/no, on/off, true/false), got " + quoted(text)};
}

util::Result<PoolMode> parse_pool_mode(std::string_view text) {
  for (PoolMode mode : {PoolMode::kSession, PoolMode::kTransaction, PoolMode::kStatement}) {
    if (iequals(trim(text), to_string(mode))) {
      return mode;
    }
  }
  return util::Error{"expected session, transaction or statement, got " + quoted(trim(text))};
}

util::Result<AuthType> parse_auth_type(std::string_view text) {
  text = trim(text);
  for (AuthType type : {AuthType::kTrust, AuthType::kAny, AuthType::kPlain, AuthType::kMd5,
                        AuthType::kScramSha256, AuthType::kCert, AuthType::kHba}) {
    if (iequals(text, to_string(type))) {
      return type;
    }
  }
  for (std::string_view later : {"ldap", "pam"}) {
    if (iequals(text, later)) {
      return util::Error{"auth_type=" + to_lower(text) +
                         " is not supported yet (use trust, any, plain, md5, scram-sha-256, "
                         "cert or hba)"};
    }
  }
  return util::Error{"expected trust, any, plain, md5, scram-sha-256, cert or hba, got " +
                     quoted(text)};
}

util::Result<std::string> parse_choice(std::string_view text,
                                       const std::vector<std::string_view>& choices) {
  text = trim(text);
  for (std::string_view choice : choices) {
    if (iequals(text, choice)) {
      return std::string(choice);
    }
  }
  std::string expected;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ");
    expected += choices[i];
  }
  return util::Error{"expected " + expected + ", got " + quoted(text)};
}

const std::vector<std::string_view>& syslog_facilities() {
  static const std::vector<std::string_view> names = {"auth",   "authpriv", "daemon", "user",
                                                      "local0", "local1",   "local2", "local3",
                                                      "local4", "local5",   "local6", "local7"};
  return names;
}

util::Result<std::string> parse_syslog_facility(std::string_view text) {
  std::string_view name = trim(text);
  if (name.size() > 4 && iequals(name.substr(0, 4), "log_")) {
    name.remove_prefix(4);
  }
  auto parsed = parse_choice(name, syslog_facilities());
  if (!parsed) {
    return util::Error{parse_choice(text, syslog_facilities()).error() +
                       " (LOG_LOCAL0 and the like are accepted too)"};
  }
  return parsed;
}

std::size_t inline_comment_at(std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    if ((value[i] == ';' || value[i] == '#') &&
        (i == 0 || value[i - 1] == ' ' || value[i - 1] == '\t')) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string_view strip_inline_comment(std::string_view value) {
  return trim(value.substr(0, inline_comment_at(value)));
}

std::vector<std::string> parse_list(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    std::size_t comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) {
      items.emplace_back(item);
    }
    if (comma == std::string_view::npos) {
      return items;
    }
    text.remove_prefix(comma + 1);
  }
}

std::string render_seconds(double seconds) {
  std::array<char, 32> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), seconds);
  if (ec != std::errc()) {
    return std::to_string(seconds);
  }
  return std::string(buffer.data(), end);
}

std::string render_list(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) {
    text += (text.empty() ? "" : ",") + item;
  }
  return text;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  std::size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) {
    return {};
  }
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

std::string to_lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return lower;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && to_lower(a) == to_lower(b);
}

}  // namespace pooler::config
