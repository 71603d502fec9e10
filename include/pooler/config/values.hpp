// Single config values as text: parsing and rendering of numbers, durations, booleans, lists and
// enums, shared by the [pooler] schema and the [databases]/[users] entry parsers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pooler/config/config.hpp"
#include "pooler/util/result.hpp"

namespace pooler::config {

// Each parser returns the value or a message saying what was expected. The messages quote the
// offending text, so callers must never pass a secret (a password) through them.

// A decimal integer in [min, max].
util::Result<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max);

// A file mode such as 0777: octal when written with a leading 0 (as PgBouncer's strtol base 0).
util::Result<std::int64_t> parse_file_mode(std::string_view text);

// A duration in seconds, fractions allowed, never negative.
util::Result<double> parse_seconds(std::string_view text);

// 0/1, yes/no, on/off, true/false in any case.
util::Result<bool> parse_bool(std::string_view text);

util::Result<PoolMode> parse_pool_mode(std::string_view text);

// Every PgBouncer auth_type parses, but hba, cert, ldap and pam are refused as not supported yet
// rather than silently weakened.
util::Result<AuthType> parse_auth_type(std::string_view text);

// One of `choices`, compared case-insensitively; returns the choice's own spelling.
util::Result<std::string> parse_choice(std::string_view text,
                                       const std::vector<std::string_view>& choices);

// A comma-separated list; items are trimmed and empty items dropped.
std::vector<std::string> parse_list(std::string_view text);

// The shortest text that reads back as the same double: 5, 0.5, 3600.
std::string render_seconds(double seconds);
std::string render_list(const std::vector<std::string>& items);

std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

}  // namespace pooler::config
