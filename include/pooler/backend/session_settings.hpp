// Session settings: what a client asked for at startup beyond the parameters PostgreSQL reports
// (search_path, statement_timeout, `options=-c ...`, custom a.b settings). A server records which
// of them the pooler applied to it, so the next client gets them only if it asked too: what an
// earlier client set and this one did not is RESET to the server's own default.
#pragma once

#include <string>

#include "pooler/backend/parameter_set.hpp"

namespace pooler::backend {

// SQL that turns a server with `applied` into one with `wanted`; empty when they agree. Values go
// through set_config, which reads them as a startup packet would (a list such as search_path
// stays a list), and every name and value is quoted.
std::string session_settings_statements(const ParameterSet& wanted, const ParameterSet& applied);

}  // namespace pooler::backend
