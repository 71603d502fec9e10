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

// Every PgBouncer auth_type parses, but ldap and pam are refused as not supported yet rather than
// silently weakened.
util::Result<AuthType> parse_auth_type(std::string_view text);

// One of `choices`, compared case-insensitively; returns the choice's own spelling.
util::Result<std::string> parse_choice(std::string_view text,
                                       const std::vector<std::string_view>& choices);

// syslog's facility names as PgBouncer takes them (auth, authpriv, daemon, user, local0-7), in
// syslog.conf's spelling too: "LOG_LOCAL0" and "log_daemon" are local0 and daemon.
const std::vector<std::string_view>& syslog_facilities();
util::Result<std::string> parse_syslog_facility(std::string_view text);

// Where an inline comment starts in a value: the first ';' or '#' that opens the value or follows
// a blank; npos when there is none.
std::size_t inline_comment_at(std::string_view value);
// The value without its inline comment, trimmed.
std::string_view strip_inline_comment(std::string_view value);

// A comma-separated list; items are trimmed and empty items dropped.
std::vector<std::string> parse_list(std::string_view text);

// The shortest text that reads back as the same double: 5, 0.5, 3600.
std::string render_seconds(double seconds);
std::string render_list(const std::vector<std::string>& items);

std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

}  // namespace pooler::config
