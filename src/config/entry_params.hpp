// The keys of [databases] and [users] entries: which field each one sets and how its value is
// parsed. Private to the config module.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pooler/config/config.hpp"
#include "pooler/util/result.hpp"

namespace pooler::config {

// Applies one `key=value` of an entry; nullopt when applied, else the whole message: "unknown
// parameter 'k' in database entry" or "k: why the value is wrong".
std::optional<std::string> apply_entry_param(DatabaseEntry& entry, std::string_view key,
                                             const std::string& value);
std::optional<std::string> apply_entry_param(UserEntry& entry, std::string_view key,
                                             const std::string& value);
std::optional<std::string> apply_entry_param(PeerEntry& entry, std::string_view key,
                                             const std::string& value);

// What is wrong with the entry's host and port lists together, if anything: an empty item in a
// host list, or a port list whose length is neither 1 nor the number of hosts. The message
// starts with the key at fault ("port: ...").
std::optional<std::string> host_list_problem(const DatabaseEntry& entry);

// `name` or `"quoted name"` ("" inside quotes is one quote), as PgBouncer's identifiers.
util::Result<std::string> unquote_name(std::string_view text);

}  // namespace pooler::config
