// PostgreSQL's md5 password scheme: the stored secret and the salted answer to an md5 challenge,
// computed exactly as libpq and the server do (pg_md5_encrypt).
#include "pooler/protocol/md5_password.hpp"

#include <openssl/evp.h>

#include <cstdlib>

namespace pooler::protocol {

namespace {

constexpr std::string_view kMd5Prefix = "md5";
constexpr std::size_t kMd5HexLength = 32;

// "md5" + lowercase hex(md5(data)): both the stored secret and the wire response have this shape.
std::string md5_prefixed_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  // The low-level MD5() is deprecated in OpenSSL 3; EVP only fails when the provider is missing
  // md5 (a FIPS-only build), which leaves no way to speak this auth method at all.
  if (EVP_Digest(data.data(), data.size(), digest, &digest_length, EVP_md5(), nullptr) != 1) {
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kMd5Prefix);
  out.reserve(kMd5Prefix.size() + 2 * digest_length);
  for (unsigned int i = 0; i < digest_length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

}  // namespace

bool is_md5_secret(std::string_view secret) {
  if (secret.size() != kMd5Prefix.size() + kMd5HexLength || !secret.starts_with(kMd5Prefix)) {
    return false;
  }
  for (char c : secret.substr(kMd5Prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string md5_stored_secret(std::string_view password, std::string_view user) {
  std::string input;
  input.reserve(password.size() + user.size());
  input.append(password);
  input.append(user);
  return md5_prefixed_hex(input);
}

std::string md5_salted_response(std::string_view stored_secret, const Md5Salt& salt) {
  // The server hashes the hex digits without their "md5" prefix, then the 4 raw salt bytes.
  std::string_view hex = stored_secret;
  if (hex.starts_with(kMd5Prefix)) {
    hex.remove_prefix(kMd5Prefix.size());
  }
  std::string input(hex);
  input.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return md5_prefixed_hex(input);
}

}  // namespace pooler::protocol
