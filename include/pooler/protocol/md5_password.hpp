// PostgreSQL's md5 password scheme: stored "md5" + hex(md5(password || user)); on the wire
// "md5" + hex(md5(hex(stored) || salt)).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace pooler::protocol {

using Md5Salt = std::array<std::uint8_t, 4>;

// True for "md5" followed by 32 lowercase hex digits.
bool is_md5_secret(std::string_view secret);

// The stored form: "md5" + hex(md5(password + user)).
std::string md5_stored_secret(std::string_view password, std::string_view user);

// The PasswordMessage payload answering AuthenticationMD5Password, from a stored secret
// ("md5...").
std::string md5_salted_response(std::string_view stored_secret, const Md5Salt& salt);

}  // namespace pooler::protocol
