// ErrorResponse field parsing; tolerant of missing fields, never reads past the body.
#include "pooler/protocol/error_fields.hpp"

namespace pooler::protocol {

ErrorFields parse_error_fields(util::Bytes body) {
  ErrorFields fields;
  util::ByteReader r(body);
  while (true) {
    auto code = r.u8();
    if (!code || *code == 0) break;
    auto value = r.cstring();
    if (!value) break;
    switch (*code) {
      case 'V':
        fields.severity = std::string(*value);
        break;
      case 'S':
        if (fields.severity.empty()) fields.severity = std::string(*value);
        break;
      case 'C':
        fields.sqlstate = std::string(*value);
        break;
      case 'M':
        fields.message = std::string(*value);
        break;
      default:
        break;
    }
  }
  return fields;
}

}  // namespace pooler::protocol
