// Wire encodings of the messages the pooler composes (PostgreSQL protocol 3.0, chapter 55.7).
#include "pooler/protocol/message_builder.hpp"

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

std::size_t begin_message(std::string& out, char type) {
  out.push_back(type);
  std::size_t at = out.size();
  out.append(4, '\0');
  return at;
}

void finish_message(std::string& out, std::size_t length_at) {
  util::ByteWriter(out).patch_i32(length_at, static_cast<std::int32_t>(out.size() - length_at));
}

namespace {

void append_auth_request(std::string& out, std::int32_t code, std::string_view payload) {
  auto at = begin_message(out, 'R');
  util::ByteWriter w(out);
  w.i32(code);
  w.raw(payload);
  finish_message(out, at);
}

void append_error_or_notice(std::string& out, char type, std::string_view severity,
                            std::string_view sqlstate, std::string_view message,
                            std::string_view detail = {}) {
  auto at = begin_message(out, type);
  util::ByteWriter w(out);
  w.u8('S');
  w.cstring(severity);
  w.u8('V');
  w.cstring(severity);
  w.u8('C');
  w.cstring(sqlstate);
  w.u8('M');
  w.cstring(message);
  if (!detail.empty()) {
    w.u8('D');
    w.cstring(detail);
  }
  w.u8(0);
  finish_message(out, at);
}

}  // namespace

void append_error(std::string& out, ErrorSeverity severity, std::string_view sqlstate,
                  std::string_view message, std::string_view detail) {
  append_error_or_notice(out, 'E', severity == ErrorSeverity::kFatal ? "FATAL" : "ERROR",
                         sqlstate, message, detail);
}

void append_notice(std::string& out, std::string_view message) {
  append_error_or_notice(out, 'N', "NOTICE", "00000", message);
}

void append_auth_ok(std::string& out) { append_auth_request(out, 0, {}); }

void append_auth_cleartext(std::string& out) { append_auth_request(out, 3, {}); }

void append_auth_md5(std::string& out, const Md5Salt& salt) {
  append_auth_request(out, 5, {reinterpret_cast<const char*>(salt.data()), salt.size()});
}

void append_auth_sasl(std::string& out, std::string_view mechanism) {
  append_auth_sasl(out, std::initializer_list<std::string_view>{mechanism});
}

void append_auth_sasl(std::string& out, std::initializer_list<std::string_view> mechanisms) {
  // Each name a C string; an empty one ends the list.
  std::string payload;
  for (std::string_view mechanism : mechanisms) {
    payload.append(mechanism);
    payload.push_back('\0');
  }
  payload.push_back('\0');
  append_auth_request(out, 10, payload);
}

void append_auth_sasl_continue(std::string& out, std::string_view data) {
  append_auth_request(out, 11, data);
}

void append_auth_sasl_final(std::string& out, std::string_view data) {
  append_auth_request(out, 12, data);
}

void append_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  auto at = begin_message(out, 'S');
  util::ByteWriter w(out);
  w.cstring(name);
  w.cstring(value);
  finish_message(out, at);
}

void append_backend_key_data(std::string& out, std::int32_t pid, std::int32_t key) {
  auto at = begin_message(out, 'K');
  util::ByteWriter w(out);
  w.i32(pid);
  w.i32(key);
  finish_message(out, at);
}

void append_ready_for_query(std::string& out, char status) {
  auto at = begin_message(out, 'Z');
  out.push_back(status);
  finish_message(out, at);
}

void append_negotiate_protocol_version(std::string& out, int newest_minor,
                                       const std::vector<std::string>& unsupported_options) {
  auto at = begin_message(out, 'v');
  util::ByteWriter w(out);
  w.i32(newest_minor);
  w.i32(static_cast<std::int32_t>(unsupported_options.size()));
  for (const auto& option : unsupported_options) w.cstring(option);
  finish_message(out, at);
}

void append_startup(std::string& out,
                    const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::size_t at = out.size();
  util::ByteWriter w(out);
  w.i32(0);
  w.i32(kProtocolVersion3);
  for (const auto& [name, value] : parameters) {
    w.cstring(name);
    w.cstring(value);
  }
  w.u8(0);
  w.patch_i32(at, static_cast<std::int32_t>(out.size() - at));
}

void append_ssl_request(std::string& out) {
  util::ByteWriter w(out);
  w.i32(8);
  w.i32(kSslRequestCode);
}

void append_password(std::string& out, std::string_view password) {
  auto at = begin_message(out, 'p');
  util::ByteWriter(out).cstring(password);
  finish_message(out, at);
}

void append_sasl_initial_response(std::string& out, std::string_view mechanism,
                                  std::string_view data) {
  auto at = begin_message(out, 'p');
  util::ByteWriter w(out);
  w.cstring(mechanism);
  w.i32(static_cast<std::int32_t>(data.size()));
  w.raw(data);
  finish_message(out, at);
}

void append_sasl_response(std::string& out, std::string_view data) {
  auto at = begin_message(out, 'p');
  util::ByteWriter(out).raw(data);
  finish_message(out, at);
}

void append_query(std::string& out, std::string_view sql) {
  auto at = begin_message(out, 'Q');
  util::ByteWriter(out).cstring(sql);
  finish_message(out, at);
}

void append_terminate(std::string& out) {
  auto at = begin_message(out, 'X');
  finish_message(out, at);
}

void append_copy_fail(std::string& out, std::string_view reason) {
  auto at = begin_message(out, 'f');
  util::ByteWriter(out).cstring(reason);
  finish_message(out, at);
}

void append_cancel_request(std::string& out, std::int32_t pid, std::int32_t key) {
  util::ByteWriter w(out);
  w.i32(16);
  w.i32(kCancelRequestCode);
  w.i32(pid);
  w.i32(key);
}

std::string quote_literal(std::string_view value) {
  std::string quoted = "E'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted.push_back(c);
    quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

}  // namespace pooler::protocol
