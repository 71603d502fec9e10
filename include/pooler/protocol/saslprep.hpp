// SASLprep (RFC 4013: the stringprep profile of RFC 3454 for passwords) exactly as PostgreSQL's
// pg_saslprep applies it before SCRAM hashes a password. Pure: no I/O, no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pooler::protocol {

// The normalized password, or nullopt when PostgreSQL's pg_saslprep would fail: the text is not
// valid UTF-8, or it holds a prohibited or (in Unicode 3.2) unassigned character, breaks the bidi
// rule, or maps to nothing. Like PostgreSQL, pure ASCII comes back unchanged, control characters
// included, and the checks look at the mapped text before normalization.
std::optional<std::string> saslprep(std::string_view password);

// What SCRAM hashes, on both sides of PostgreSQL's wire: SASLprep(password) when it succeeds, the
// password's own bytes when it fails (PostgreSQL's rule, so such passwords still work).
std::string scram_password_bytes(std::string_view password);

}  // namespace pooler::protocol
