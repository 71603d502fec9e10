// The `options` startup parameter, read as PostgreSQL reads it: words split on whitespace (a
// backslash keeps the next character, spaces included), each setting given as `-c name=value`,
// `-cname=value` or `--name=value`, with dashes in the name read as underscores.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pooler::protocol {

struct StartupOptions {
  std::vector<std::pair<std::string, std::string>> settings;  // in the order given
  std::string error;  // PostgreSQL's words for what it would refuse; empty when well formed
};

StartupOptions parse_startup_options(std::string_view options);

}  // namespace pooler::protocol
