// Reading an ErrorResponse/NoticeResponse body: the fields the pooler logs or relays.
#pragma once

#include <string>

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

struct ErrorFields {
  std::string severity;  // S (localized) or V
  std::string sqlstate;  // C
  std::string message;   // M
};

ErrorFields parse_error_fields(util::Bytes body);

}  // namespace pooler::protocol
