// Builders for every message the pooler composes itself, appending wire bytes to a std::string.
// Backend messages go to clients; frontend messages go to PostgreSQL during login and reset.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pooler/protocol/md5_password.hpp"

namespace pooler::protocol {

inline constexpr std::int32_t kProtocolVersion3 = 196608;  // 3.0
inline constexpr std::int32_t kCancelRequestCode = 80877102;
inline constexpr std::int32_t kSslRequestCode = 80877103;
inline constexpr std::int32_t kGssEncRequestCode = 80877104;

enum class ErrorSeverity { kError, kFatal };

// For builders of other typed messages: writes the type byte and a length placeholder and
// returns where the length goes; finish_message fills it in once the body is written.
std::size_t begin_message(std::string& out, char type);
void finish_message(std::string& out, std::size_t length_at);

// Backend -> client.
// detail, when not empty, goes out as the DETAIL field.
void append_error(std::string& out, ErrorSeverity severity, std::string_view sqlstate,
                  std::string_view message, std::string_view detail = {});
void append_notice(std::string& out, std::string_view message);
void append_auth_ok(std::string& out);
void append_auth_cleartext(std::string& out);
void append_auth_md5(std::string& out, const Md5Salt& salt);
void append_auth_sasl(std::string& out, std::string_view mechanism);
// Mechanisms in the server's order of preference: PostgreSQL lists SCRAM-SHA-256-PLUS first.
void append_auth_sasl(std::string& out, std::initializer_list<std::string_view> mechanisms);
void append_auth_sasl_continue(std::string& out, std::string_view data);
void append_auth_sasl_final(std::string& out, std::string_view data);
void append_parameter_status(std::string& out, std::string_view name, std::string_view value);
void append_backend_key_data(std::string& out, std::int32_t pid, std::int32_t key);
void append_ready_for_query(std::string& out, char status);
// Tells a client asking for a newer 3.x minor version, or for protocol options, what is spoken.
void append_negotiate_protocol_version(std::string& out, int newest_minor,
                                       const std::vector<std::string>& unsupported_options);

// Frontend -> PostgreSQL.
void append_startup(std::string& out,
                    const std::vector<std::pair<std::string, std::string>>& parameters);
// SSLRequest: asks PostgreSQL for TLS before the startup packet.
void append_ssl_request(std::string& out);
void append_password(std::string& out, std::string_view password);
void append_sasl_initial_response(std::string& out, std::string_view mechanism,
                                  std::string_view data);
void append_sasl_response(std::string& out, std::string_view data);
void append_query(std::string& out, std::string_view sql);
void append_terminate(std::string& out);
// Ends a COPY FROM STDIN with an error: what PostgreSQL needs to leave copy-in mode.
void append_copy_fail(std::string& out, std::string_view reason);
void append_cancel_request(std::string& out, std::int32_t pid, std::int32_t key);

// A SQL string literal, safe whatever standard_conforming_strings says: E-quoted, with quotes
// and backslashes doubled.
std::string quote_literal(std::string_view value);

}  // namespace pooler::protocol
