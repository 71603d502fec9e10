// SCRAM-SHA-256 key derivation, message parsing and proofs for both ends of an exchange, on
// OpenSSL's libcrypto. Messages are parsed strictly: anything RFC 5802 does not allow is an error.
#include "pooler/protocol/scram.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <vector>

#include "pooler/protocol/saslprep.hpp"
#include "pooler/util/secure.hpp"

namespace pooler::protocol {

namespace {

constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";
// RFC 5929's binding to the server certificate; the only type PostgreSQL knows. tls-unique has
// no TLS 1.3 definition, and a PostgreSQL server always has a certificate to hash.
constexpr std::string_view kTlsServerEndPoint = "tls-server-end-point";
// How much of a client-chosen name goes into an error (and so the log), as PostgreSQL cuts it.
constexpr std::size_t kMaxQuotedChars = 30;
constexpr std::size_t kNonceRandomBytes = 18;
// A server-first message chooses how much PBKDF2 work the pooler does; PostgreSQL's default is
// 4096, so anything this far above it is an attack or a mistake, not a configuration.
constexpr int kMaxServerIterations = 10'000'000;

using util::Error;
using util::Result;

std::string_view as_view(const ScramKey& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

const unsigned char* as_bytes(std::string_view data) {
  return reinterpret_cast<const unsigned char*>(data.data());
}

// libcrypto only fails here on allocation failure or a provider without SHA-256; no caller could
// do anything useful with that, and carrying on would mean comparing garbage keys.
void require(bool ok) {
  if (!ok) {
    std::abort();
  }
}

ScramKey sha256(std::string_view data) {
  ScramKey out{};
  require(SHA256(as_bytes(data), data.size(), out.data()) != nullptr);
  return out;
}

ScramKey hmac_sha256(std::string_view key, std::string_view data) {
  ScramKey out{};
  unsigned int length = 0;
  require(key.size() <= INT_MAX);
  require(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), as_bytes(data), data.size(),
               out.data(), &length) != nullptr &&
          length == out.size());
  return out;
}

// RFC 5802's SaltedPassword := Hi(Normalize(password), salt, i), Normalize being SASLprep with
// PostgreSQL's fallback to the raw bytes: every path from a plain password to a key comes here.
ScramKey salted_password(std::string_view password_text, std::string_view salt, int iterations) {
  const std::string password = scram_password_bytes(password_text);
  ScramKey out{};
  require(password.size() <= INT_MAX && salt.size() <= INT_MAX);
  require(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), as_bytes(salt),
                            static_cast<int>(salt.size()), iterations, EVP_sha256(),
                            static_cast<int>(out.size()), out.data()) == 1);
  return out;
}

ScramKey xor_keys(const ScramKey& a, const ScramKey& b) {
  ScramKey out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = a[i] ^ b[i];
  }
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), as_bytes(data),
                                static_cast<int>(data.size()));
  require(written >= 0 && static_cast<std::size_t>(written) == out.size());
  return out;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// EVP_DecodeBlock skips whitespace and counts padding as zero bytes, so the input is checked
// here first and the padding subtracted after.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > INT_MAX) {
    return std::nullopt;
  }
  std::size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with("=")) {
    padding = 1;
  }
  for (char c : text.substr(0, text.size() - padding)) {
    if (!is_base64_char(c)) {
      return std::nullopt;
    }
  }
  std::string out(3 * (text.size() / 4), '\0');
  int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), as_bytes(text),
                                static_cast<int>(text.size()));
  if (written < 0 || static_cast<std::size_t>(written) != out.size()) {
    return std::nullopt;
  }
  out.resize(out.size() - padding);
  return out;
}

std::optional<ScramKey> base64_decode_key(std::string_view text) {
  auto bytes = base64_decode(text);
  if (!bytes || bytes->size() != ScramKey{}.size()) {
    return std::nullopt;
  }
  ScramKey key{};
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<std::uint8_t>((*bytes)[i]);
  }
  return key;
}

// Only plain decimal digits: from_chars alone would let "+1" or " 1" through elsewhere.
std::optional<int> parse_positive_int(std::string_view text, int max) {
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value <= 0 || value > max) {
    return std::nullopt;
  }
  return static_cast<int>(value);
}

// RFC 5802 "printable": %x21-7E except ','.
bool is_valid_nonce(std::string_view nonce) {
  if (nonce.empty()) {
    return false;
  }
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') {
      return false;
    }
  }
  return true;
}

std::string generate_nonce() {
  std::string raw(kNonceRandomBytes, '\0');
  util::random_bytes(raw.data(), raw.size());
  return base64_encode(raw);
}

// saslname: ',' and '=' only appear escaped as "=2C" and "=3D".
bool is_valid_saslname(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == ',') {
      return false;
    }
    if (name[i] == '=') {
      std::string_view escape = name.substr(i + 1, 2);
      if (escape != "2C" && escape != "3D") {
        return false;
      }
      i += 2;
    }
  }
  return true;
}

std::string escape_saslname(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

// No SCRAM attribute value can contain ',' (names are escaped, nonces exclude it, base64 has
// none), so splitting on it yields exactly the attributes.
std::vector<std::string_view> split_attributes(std::string_view message) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = message.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(message.substr(start));
      return out;
    }
    out.push_back(message.substr(start, comma - start));
    start = comma + 1;
  }
}

// The value of `attribute` if it is "<name>=value".
std::optional<std::string_view> attribute_value(std::string_view attribute, char name) {
  if (attribute.size() < 2 || attribute[0] != name || attribute[1] != '=') {
    return std::nullopt;
  }
  return attribute.substr(2);
}

// An optional extension: any other letter followed by '='; their meaning is ignored.
bool is_extension(std::string_view attribute) {
  if (attribute.size() < 2 || attribute[1] != '=') {
    return false;
  }
  char name = attribute[0];
  return (name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z');
}

bool all_extensions(const std::vector<std::string_view>& attributes, std::size_t from,
                    std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    if (!is_extension(attributes[i])) {
      return false;
    }
  }
  return true;
}

// A client-chosen string made fit for a log line: printable ASCII only, and short.
std::string quoted_for_log(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, kMaxQuotedChars)) {
    out += (c >= 0x21 && c <= 0x7e) ? c : '?';
  }
  return out + "\"";
}

Error malformed(std::string_view what, std::string_view detail) {
  return Error{"malformed SCRAM " + std::string(what) + ": " + std::string(detail)};
}

std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof) {
  std::string out;
  out.reserve(client_first_bare.size() + server_first.size() + client_final_without_proof.size() +
              2);
  out.append(client_first_bare).append(",").append(server_first).append(",");
  out.append(client_final_without_proof);
  return out;
}

}  // namespace

std::optional<ScramVerifier> parse_scram_verifier(std::string_view secret) {
  if (!secret.starts_with(kVerifierPrefix)) {
    return std::nullopt;
  }
  secret.remove_prefix(kVerifierPrefix.size());
  std::size_t dollar = secret.find('$');
  if (dollar == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view salt_part = secret.substr(0, dollar);
  std::string_view key_part = secret.substr(dollar + 1);
  std::size_t salt_colon = salt_part.find(':');
  std::size_t key_colon = key_part.find(':');
  if (salt_colon == std::string_view::npos || key_colon == std::string_view::npos) {
    return std::nullopt;
  }
  auto iterations = parse_positive_int(salt_part.substr(0, salt_colon), INT_MAX);
  auto salt = base64_decode(salt_part.substr(salt_colon + 1));
  auto stored_key = base64_decode_key(key_part.substr(0, key_colon));
  auto server_key = base64_decode_key(key_part.substr(key_colon + 1));
  if (!iterations || !salt || salt->empty() || !stored_key || !server_key) {
    return std::nullopt;
  }
  return ScramVerifier{*iterations, std::move(*salt), *stored_key, *server_key};
}

ScramVerifier make_scram_verifier(std::string_view password, std::string_view salt,
                                  int iterations) {
  ScramKey salted = salted_password(password, salt, iterations);
  ScramVerifier verifier;
  verifier.iterations = iterations;
  verifier.salt = std::string(salt);
  verifier.stored_key = sha256(as_view(hmac_sha256(as_view(salted), "Client Key")));
  verifier.server_key = hmac_sha256(as_view(salted), "Server Key");
  return verifier;
}

std::string format_scram_verifier(const ScramVerifier& verifier) {
  return std::string(kVerifierPrefix) + std::to_string(verifier.iterations) + ":" +
         base64_encode(verifier.salt) + "$" + base64_encode(as_view(verifier.stored_key)) + ":" +
         base64_encode(as_view(verifier.server_key));
}

ScramServerSession::ScramServerSession(ScramVerifier verifier, std::string nonce,
                                       std::string channel_binding)
    : verifier_(std::move(verifier)),
      server_nonce_(nonce.empty() ? generate_nonce() : std::move(nonce)),
      channel_binding_(std::move(channel_binding)) {}

Result<std::string> ScramServerSession::handle_client_first(std::string_view client_first,
                                                            std::string_view mechanism) {
  constexpr std::string_view kWhat = "client-first-message";
  if (!server_first_.empty() || finished_) {
    return Error{"unexpected SCRAM client-first-message"};
  }
  // PLUS is only offered with binding data, so choosing it otherwise is choosing an unknown name.
  bool binding_in_use = mechanism == kScramSha256Plus && !channel_binding_.empty();
  if (!binding_in_use && mechanism != kScramSha256) {
    return Error{"client selected an invalid SASL authentication mechanism"};
  }

  // gs2-header: gs2-cbind-flag "," [authzid] ","; the flag must agree with the mechanism.
  std::size_t flag_end = client_first.find(',');
  std::string_view flag = client_first.substr(0, flag_end);
  if (flag == "n" || flag == "y") {
    if (binding_in_use) {
      return malformed(kWhat,
                       "the client selected SCRAM-SHA-256-PLUS, but the message does not include "
                       "channel binding data");
    }
    // "y": the client could bind but saw no PLUS offered. Over this link it was offered, so
    // something in between removed it to force an unbound login.
    if (flag == "y" && !channel_binding_.empty()) {
      return Error{
          "SCRAM channel binding negotiation error: the client supports channel binding but "
          "thinks the server does not"};
    }
  } else if (flag.starts_with("p=")) {
    if (!binding_in_use) {
      return malformed(kWhat,
                       "the client selected SCRAM-SHA-256 without channel binding, but the "
                       "message includes channel binding data");
    }
    if (flag.substr(2) != kTlsServerEndPoint) {
      return Error{"unsupported SCRAM channel-binding type " + quoted_for_log(flag.substr(2))};
    }
  } else {
    return malformed(kWhat, "expected gs2 channel binding flag 'n', 'y' or 'p'");
  }
  if (flag_end == std::string_view::npos) {
    return malformed(kWhat, "incomplete gs2 header");
  }
  std::size_t authzid_end = client_first.find(',', flag_end + 1);
  if (authzid_end == std::string_view::npos) {
    return malformed(kWhat, "incomplete gs2 header");
  }
  if (authzid_end != flag_end + 1) {
    return Error{"SCRAM authorization identity is not supported"};
  }
  std::string_view gs2_header = client_first.substr(0, authzid_end + 1);
  std::string_view bare = client_first.substr(authzid_end + 1);

  auto attributes = split_attributes(bare);
  if (attributes[0].starts_with("m=")) {
    return Error{"SCRAM mandatory extensions are not supported"};
  }
  // PostgreSQL clients send "n=" empty (the startup packet names the user); any name is
  // accepted and ignored, as the server does.
  auto user = attribute_value(attributes[0], 'n');
  if (!user || !is_valid_saslname(*user)) {
    return malformed(kWhat, "expected username attribute");
  }
  if (attributes.size() < 2) {
    return malformed(kWhat, "expected nonce attribute");
  }
  auto client_nonce = attribute_value(attributes[1], 'r');
  if (!client_nonce || !is_valid_nonce(*client_nonce)) {
    return malformed(kWhat, "expected nonce attribute");
  }
  if (!all_extensions(attributes, 2, attributes.size())) {
    return malformed(kWhat, "unexpected attribute");
  }

  gs2_header_ = std::string(gs2_header);
  binding_in_use_ = binding_in_use;
  client_first_bare_ = std::string(bare);
  combined_nonce_ = std::string(*client_nonce) + server_nonce_;
  server_first_ = "r=" + combined_nonce_ + ",s=" + base64_encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  return server_first_;
}

Result<std::string> ScramServerSession::handle_client_final(std::string_view client_final) {
  constexpr std::string_view kWhat = "client-final-message";
  if (server_first_.empty() || finished_) {
    return Error{"unexpected SCRAM client-final-message"};
  }
  finished_ = true;

  // channel-binding "," nonce ["," extensions] "," proof
  auto attributes = split_attributes(client_final);
  if (attributes.size() < 3) {
    return malformed(kWhat, "expected channel binding, nonce and proof");
  }
  auto channel_binding = attribute_value(attributes[0], 'c');
  if (!channel_binding) {
    return malformed(kWhat, "expected channel binding attribute");
  }
  auto binding_data = base64_decode(*channel_binding);
  if (binding_in_use_) {
    // cbind-input: the gs2 header, then the hash of the certificate the client saw. Another hash
    // means the client's TLS ended somewhere else: a man in the middle relaying the exchange.
    if (!binding_data || *binding_data != gs2_header_ + channel_binding_) {
      return Error{"SCRAM channel binding check failed"};
    }
  } else if (!binding_data || *binding_data != gs2_header_) {
    return Error{"SCRAM channel binding does not match the gs2 header"};
  }
  auto nonce = attribute_value(attributes[1], 'r');
  if (!nonce) {
    return malformed(kWhat, "expected nonce attribute");
  }
  if (*nonce != combined_nonce_) {
    return Error{"SCRAM nonce does not match"};
  }
  if (!all_extensions(attributes, 2, attributes.size() - 1)) {
    return malformed(kWhat, "unexpected attribute");
  }
  auto proof_text = attribute_value(attributes.back(), 'p');
  if (!proof_text) {
    return malformed(kWhat, "expected proof attribute last");
  }
  auto proof = base64_decode_key(*proof_text);
  if (!proof) {
    return malformed(kWhat, "proof is not 32 bytes of base64");
  }

  std::string_view without_proof =
      client_final.substr(0, client_final.size() - attributes.back().size() - 1);
  std::string message = auth_message(client_first_bare_, server_first_, without_proof);
  ScramKey client_signature = hmac_sha256(as_view(verifier_.stored_key), message);
  ScramKey client_key = xor_keys(*proof, client_signature);
  if (!util::constant_time_equal(as_view(sha256(as_view(client_key))),
                                 as_view(verifier_.stored_key))) {
    return Error{"SCRAM proof does not match the password"};
  }
  client_key_ = client_key;
  return "v=" + base64_encode(as_view(hmac_sha256(as_view(verifier_.server_key), message)));
}

ScramClientSession::ScramClientSession(ScramClientCredentials credentials, std::string nonce,
                                       ScramClientBinding binding)
    : credentials_(std::move(credentials)),
      client_nonce_(nonce.empty() ? generate_nonce() : std::move(nonce)) {
  if (binding.data.empty()) {
    gs2_header_ = "n,,";
  } else if (binding.server_offers_plus) {
    gs2_header_ = "p=" + std::string(kTlsServerEndPoint) + ",,";
    channel_binding_ = std::move(binding.data);
  } else {
    gs2_header_ = "y,,";
  }
}

std::string_view ScramClientSession::mechanism() const {
  return channel_binding_.empty() ? kScramSha256 : kScramSha256Plus;
}

std::string ScramClientSession::client_first_message() {
  client_first_bare_ = "n=" + escape_saslname(credentials_.user) + ",r=" + client_nonce_;
  return gs2_header_ + client_first_bare_;
}

Result<std::string> ScramClientSession::handle_server_first(std::string_view server_first) {
  constexpr std::string_view kWhat = "server-first-message";
  if (client_first_bare_.empty() || !expected_server_signature_.empty()) {
    return Error{"unexpected SCRAM server-first-message"};
  }
  // [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
  auto attributes = split_attributes(server_first);
  if (attributes[0].starts_with("m=")) {
    return Error{"SCRAM mandatory extensions are not supported"};
  }
  if (attributes.size() < 3) {
    return malformed(kWhat, "expected nonce, salt and iteration count");
  }
  auto nonce = attribute_value(attributes[0], 'r');
  if (!nonce || !is_valid_nonce(*nonce)) {
    return malformed(kWhat, "expected nonce attribute");
  }
  // The server must extend our nonce, or it could be replaying another exchange.
  if (!nonce->starts_with(client_nonce_) || nonce->size() == client_nonce_.size()) {
    return Error{"SCRAM server nonce does not extend the client nonce"};
  }
  auto salt_text = attribute_value(attributes[1], 's');
  auto salt = salt_text ? base64_decode(*salt_text) : std::nullopt;
  if (!salt || salt->empty()) {
    return malformed(kWhat, "expected base64 salt attribute");
  }
  auto iterations_text = attribute_value(attributes[2], 'i');
  auto iterations =
      iterations_text ? parse_positive_int(*iterations_text, kMaxServerIterations) : std::nullopt;
  if (!iterations) {
    return malformed(kWhat, "expected iteration count between 1 and 10000000");
  }
  if (!all_extensions(attributes, 3, attributes.size())) {
    return malformed(kWhat, "unexpected attribute");
  }

  ScramKey client_key{};
  ScramKey server_key{};
  if (credentials_.client_key) {
    // Pass-through: the keys came from a client's proof against a verifier with the same salt
    // and iterations, so neither the password nor PBKDF2 is needed.
    if (!credentials_.server_key) {
      return Error{"SCRAM pass-through needs the server key to check the server's signature"};
    }
    client_key = *credentials_.client_key;
    server_key = *credentials_.server_key;
  } else {
    ScramKey salted = salted_password(credentials_.password, *salt, *iterations);
    client_key = hmac_sha256(as_view(salted), "Client Key");
    server_key = hmac_sha256(as_view(salted), "Server Key");
  }

  // "c=" repeats the gs2 header, followed by the certificate hash when binding ("biws" for "n,,").
  std::string without_proof =
      "c=" + base64_encode(gs2_header_ + channel_binding_) + ",r=" + std::string(*nonce);
  std::string message = auth_message(client_first_bare_, server_first, without_proof);
  ScramKey stored_key = sha256(as_view(client_key));
  ScramKey proof = xor_keys(client_key, hmac_sha256(as_view(stored_key), message));
  expected_server_signature_ = std::string(as_view(hmac_sha256(as_view(server_key), message)));
  return without_proof + ",p=" + base64_encode(as_view(proof));
}

Result<bool> ScramClientSession::verify_server_final(std::string_view server_final) {
  constexpr std::string_view kWhat = "server-final-message";
  if (expected_server_signature_.empty()) {
    return Error{"unexpected SCRAM server-final-message"};
  }
  // (server-error / verifier) ["," extensions]
  auto attributes = split_attributes(server_final);
  if (auto server_error = attribute_value(attributes[0], 'e')) {
    return Error{"SCRAM authentication failed on the server: " + std::string(*server_error)};
  }
  auto verifier_text = attribute_value(attributes[0], 'v');
  if (!verifier_text || !all_extensions(attributes, 1, attributes.size())) {
    return malformed(kWhat, "expected verifier attribute");
  }
  auto signature = base64_decode(*verifier_text);
  if (!signature) {
    return malformed(kWhat, "verifier is not base64");
  }
  if (!util::constant_time_equal(*signature, expected_server_signature_)) {
    return Error{"SCRAM server signature does not match: the server does not know the verifier"};
  }
  return true;
}

}  // namespace pooler::protocol
