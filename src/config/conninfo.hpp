// libpq's conninfo syntax, the value of every [databases], [users] and [peers] line.
// Private to the config module.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pooler/util/result.hpp"

namespace pooler::config {

// `key=value` pairs in order, keys lower-cased; a ';' or '#' after a blank where a key would
// start begins a comment to the end. Messages name keys, never values.
util::Result<std::vector<std::pair<std::string, std::string>>> parse_conninfo(
    std::string_view text);

}  // namespace pooler::config
