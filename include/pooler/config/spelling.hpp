// Keys as people write them by mistake: PostgreSQL's names for pooler settings, and the known key
// one typo away from an unknown one, so a warning can name the key that was meant.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace pooler::config {

// The [pooler] key for a setting PostgreSQL (the server, or libpq) spells `key`:
// tcp_keepalives_idle -> tcp_keepidle. nullopt for any other key. Case-insensitive.
std::optional<std::string_view> pooler_key_for_postgres_name(std::string_view key);

// True when one insertion, deletion, substitution or swap of two neighbouring characters turns
// `a` into `b` (case-insensitive). Equal strings are not one edit apart.
bool one_edit_apart(std::string_view a, std::string_view b);

// The first of `known` one edit away from `key`, or nullopt.
std::optional<std::string_view> one_edit_suggestion(std::string_view key,
                                                    const std::vector<std::string_view>& known);

}  // namespace pooler::config
