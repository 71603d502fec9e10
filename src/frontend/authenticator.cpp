// Client authentication: method choice and verification against auth_file secrets.
#include "pooler/frontend/authenticator.hpp"

#include <openssl/sha.h>

#include "pooler/protocol/message_builder.hpp"
#include "pooler/util/secure.hpp"

namespace pooler::frontend {

using config::AuthType;

namespace {

// The salt shown for `user` when there is no real verifier: fixed for the process when a seed
// is given (a salt that changed on every attempt would tell a missing user from a real one).
std::string salt_for(std::string_view user, std::string_view seed) {
  std::string salt(16, '\0');
  if (seed.empty()) {
    util::random_bytes(salt.data(), salt.size());
    return salt;
  }
  std::string input = std::string(seed) + '\0' + std::string(user);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  salt.assign(reinterpret_cast<const char*>(digest), salt.size());
  return salt;
}

// A verifier nobody can answer: random keys behind a plausible salt, made without the
// iterations of a real derivation, as PostgreSQL's mock authentication does.
protocol::ScramVerifier mock_verifier(std::string_view user, std::string_view seed,
                                      int iterations) {
  protocol::ScramVerifier v;
  v.iterations = iterations;
  v.salt = salt_for(user, seed);
  util::random_bytes(v.stored_key.data(), v.stored_key.size());
  util::random_bytes(v.server_key.data(), v.server_key.size());
  return v;
}

}  // namespace

Authenticator::Authenticator(AuthType type, std::string user, const config::UserSecret* secret,
                             int scram_iterations, std::string_view mock_seed,
                             std::string channel_binding)
    : user_(std::move(user)),
      scram_iterations_(scram_iterations),
      channel_binding_(std::move(channel_binding)) {
  if (secret != nullptr) secret_ = *secret;
  const std::string stored = secret_ ? secret_->secret : std::string();
  bool is_md5 = protocol::is_md5_secret(stored);
  if (auto v = protocol::parse_scram_verifier(stored)) verifier_ = *v;
  mock_ = !secret_;
  switch (type) {
    case AuthType::kTrust:
      method_ = Method::kNone;
      return;
    case AuthType::kAny:
      method_ = Method::kNone;
      mock_ = false;  // any name is admitted
      return;
    case AuthType::kPlain:
      method_ = Method::kCleartext;
      return;
    case AuthType::kMd5:
      method_ = is_md5 ? Method::kMd5 : Method::kScram;
      break;
    default:
      method_ = Method::kScram;
      break;
  }
  if (method_ == Method::kScram && !verifier_) {
    if (secret_ && !is_md5) {
      // A plain secret: derive the verifier, with the same salt on every attempt.
      verifier_ = protocol::make_scram_verifier(stored, salt_for(user_, mock_seed),
                                                scram_iterations_);
    } else {
      // No usable secret (missing user, or an md5 secret SCRAM cannot use): the exchange runs
      // the same and fails.
      secret_.reset();
      mock_ = true;
      verifier_ = mock_verifier(user_, mock_seed, scram_iterations_);
    }
  }
  if (method_ == Method::kCleartext && mock_) {
    // A cleartext answer is then checked against a verifier, taking the time a real one takes.
    verifier_ = mock_verifier(user_, mock_seed, scram_iterations_);
  }
}

const char* Authenticator::failure_message() const {
  switch (method_) {
    case Method::kNone:
      return "\"trust\" authentication failed";
    case Method::kScram:
      return "SASL authentication failed";
    case Method::kCleartext:
    case Method::kMd5:
      break;
  }
  return "password authentication failed";
}

std::string Authenticator::start() {
  std::string out;
  switch (method_) {
    case Method::kNone:
      break;
    case Method::kCleartext:
      protocol::append_auth_cleartext(out);
      break;
    case Method::kMd5:
      util::random_bytes(md5_salt_.data(), md5_salt_.size());
      protocol::append_auth_md5(out, md5_salt_);
      break;
    case Method::kScram:
      if (channel_binding_.empty()) {
        protocol::append_auth_sasl(out, protocol::kScramSha256);
      } else {
        // As PostgreSQL over TLS: the bound variant first, so a client that can bind does.
        protocol::append_auth_sasl(out, {protocol::kScramSha256Plus, protocol::kScramSha256});
      }
      break;
  }
  return out;
}

Authenticator::Outcome Authenticator::fail(std::string detail) {
  failure_detail_ = std::move(detail);
  return Outcome::kFailed;
}

bool Authenticator::check_cleartext(std::string_view password) const {
  if (!secret_) {
    if (verifier_) {
      // The same derivation a user with a verifier costs, so the answer comes as late.
      protocol::make_scram_verifier(password, verifier_->salt, verifier_->iterations);
    }
    return false;
  }
  const std::string& stored = secret_->secret;
  if (protocol::is_md5_secret(stored)) {
    return util::constant_time_equal(protocol::md5_stored_secret(password, user_), stored);
  }
  if (verifier_) {
    auto derived = protocol::make_scram_verifier(password, verifier_->salt, verifier_->iterations);
    auto as_view = [](const protocol::ScramKey& k) {
      return std::string_view(reinterpret_cast<const char*>(k.data()), k.size());
    };
    return util::constant_time_equal(as_view(derived.stored_key), as_view(verifier_->stored_key));
  }
  return util::constant_time_equal(password, stored);
}

Authenticator::Outcome Authenticator::handle(util::Bytes body, std::string& reply) {
  switch (method_) {
    case Method::kNone:
      return Outcome::kOk;
    case Method::kCleartext: {
      util::ByteReader r(body);
      auto password = r.cstring();
      if (!password) return fail("malformed password message");
      last_answer_ = *password;
      if (!check_cleartext(*password)) {
        return fail(secret_ ? "password mismatch" : "user not found in auth_file");
      }
      return Outcome::kOk;
    }
    case Method::kMd5: {
      util::ByteReader r(body);
      auto answer = r.cstring();
      if (!answer) return fail("malformed password message");
      last_answer_ = *answer;
      if (!secret_) return fail("user not found in auth_file");
      auto expected = protocol::md5_salted_response(secret_->secret, md5_salt_);
      return util::constant_time_equal(*answer, expected) ? Outcome::kOk
                                                          : fail("password mismatch");
    }
    case Method::kScram:
      break;
  }
  if (!scram_started_) {
    // SASLInitialResponse: mechanism name, int32 length, data.
    util::ByteReader r(body);
    auto mechanism = r.cstring();
    auto length = r.i32();
    if (!mechanism || !length) return fail("malformed SASL message");
    bool plus = *mechanism == protocol::kScramSha256Plus && !channel_binding_.empty();
    if (!plus && *mechanism != protocol::kScramSha256) {
      return fail("unsupported SASL mechanism");
    }
    auto data = *length < 0 ? std::optional<util::Bytes>(util::Bytes{})
                            : r.bytes(static_cast<std::size_t>(*length));
    if (!data) return fail("malformed SASL message");
    scram_started_ = true;
    scram_ = std::make_unique<protocol::ScramServerSession>(*verifier_, "", channel_binding_);
    auto first = scram_->handle_client_first(util::as_chars(*data), *mechanism);
    if (!first) return fail(first.error());
    protocol::append_auth_sasl_continue(reply, *first);
    return Outcome::kContinue;
  }
  auto final_message = scram_->handle_client_final(util::as_chars(body));
  if (!final_message) return fail(final_message.error());
  if (!secret_) return fail("user not found in auth_file");
  protocol::append_auth_sasl_final(reply, *final_message);
  return Outcome::kOk;
}

bool Authenticator::accepts_with(const config::UserSecret& fresh) {
  if (last_answer_.empty()) return false;
  if (method_ == Method::kCleartext) {
    secret_ = fresh;
    verifier_.reset();
    if (auto v = protocol::parse_scram_verifier(fresh.secret)) verifier_ = *v;
    mock_ = false;
    return check_cleartext(last_answer_);
  }
  if (method_ == Method::kMd5 && protocol::is_md5_secret(fresh.secret)) {
    auto expected = protocol::md5_salted_response(fresh.secret, md5_salt_);
    if (!util::constant_time_equal(last_answer_, expected)) return false;
    secret_ = fresh;
    return true;
  }
  return false;
}

std::optional<protocol::ScramKey> Authenticator::scram_client_key() const {
  if (!scram_ || !secret_ || !protocol::parse_scram_verifier(secret_->secret)) return std::nullopt;
  return scram_->client_key();
}

std::optional<protocol::ScramKey> Authenticator::scram_server_key() const {
  if (!verifier_ || !secret_ || !protocol::parse_scram_verifier(secret_->secret)) {
    return std::nullopt;
  }
  return verifier_->server_key;
}

}  // namespace pooler::frontend
