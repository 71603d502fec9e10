// What both halves of ServerConnection read from PostgreSQL's messages. Private to backend/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/sqlstate.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::backend {

struct Parameter {
  std::string_view name;
  std::string_view value;
};

// A ParameterStatus body: name and value, or nullopt if malformed.
inline std::optional<Parameter> parse_parameter(util::Bytes body) {
  util::ByteReader r(body);
  auto name = r.cstring();
  auto value = r.cstring();
  if (!name || !value) return std::nullopt;
  return Parameter{*name, *value};
}

// An error of the pooler's own about a server, in PostgreSQL's shape.
inline protocol::ErrorFields pooler_error(std::string message) {
  return {"FATAL", protocol::sqlstate::kConnectionFailure, std::move(message)};
}

}  // namespace pooler::backend
