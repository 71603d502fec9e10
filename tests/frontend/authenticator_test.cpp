// The pooler's side of client authentication, driven by real client-side computations (md5
// salting, a full SCRAM-SHA-256 exchange) against plain, md5 and SCRAM stored secrets.
#include "pooler/frontend/authenticator.hpp"

#include <doctest/doctest.h>
#include <openssl/sha.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "pooler/config/config.hpp"
#include "pooler/protocol/md5_password.hpp"
#include "pooler/protocol/scram.hpp"
#include "pooler/util/bytes.hpp"

using pooler::config::AuthType;
using pooler::config::UserSecret;
using pooler::frontend::Authenticator;
using pooler::util::as_bytes;
using pooler::util::ByteReader;
using pooler::util::ByteWriter;
using Outcome = Authenticator::Outcome;
namespace protocol = pooler::protocol;
using namespace std::string_view_literals;

namespace {

constexpr int kIterations = 4096;
constexpr int kAuthCleartext = 3;
constexpr int kAuthMd5 = 5;
constexpr int kAuthSasl = 10;
constexpr int kAuthSaslContinue = 11;
constexpr int kAuthSaslFinal = 12;

// One decoded Authentication* message: its code and the payload after the code.
struct AuthRequest {
  int code = -1;
  std::string payload;
};

// Decodes the one 'R' message `wire` must consist of.
AuthRequest parse_auth_request(std::string_view wire) {
  ByteReader r(as_bytes(wire));
  auto type = r.u8();
  auto length = r.i32();
  auto code = r.i32();
  REQUIRE(type.has_value());
  REQUIRE(*type == 'R');
  REQUIRE(length.has_value());
  REQUIRE(static_cast<std::size_t>(*length) + 1 == wire.size());
  REQUIRE(code.has_value());
  return {*code, std::string(wire.substr(9))};
}

UserSecret secret_of(std::string user, std::string secret) {
  return UserSecret{std::move(user), std::move(secret)};
}

std::string scram_verifier_for(std::string_view password) {
  return protocol::format_scram_verifier(
      protocol::make_scram_verifier(password, "0123456789abcdef", kIterations));
}

// A PasswordMessage body carrying a C string (cleartext password or md5 answer).
std::string cstring_body(std::string_view text) {
  std::string body(text);
  body.push_back('\0');
  return body;
}

// Sends a cleartext password to a fresh authenticator; returns the outcome.
Outcome cleartext_login(AuthType type, const UserSecret* secret, std::string_view password) {
  Authenticator auth(type, "alice", secret, kIterations);
  REQUIRE(parse_auth_request(auth.start()).code == kAuthCleartext);
  std::string reply;
  Outcome outcome = auth.handle(as_bytes(cstring_body(password)), reply);
  CHECK(reply.empty());
  return outcome;
}

// A SASLInitialResponse body: mechanism name, int32 length, data.
std::string sasl_initial(std::string_view mechanism, std::string_view data) {
  std::string body = cstring_body(mechanism);
  ByteWriter(body).i32(static_cast<std::int32_t>(data.size()));
  body += data;
  return body;
}

constexpr std::string_view kOfferPlain = "SCRAM-SHA-256\0\0"sv;
constexpr std::string_view kOfferBoth = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"sv;

// A tls-server-end-point hash as net/ would hand it over (any 32 bytes do for these tests).
const std::string kCertificateHash(32, '\x5a');

// What a full SCRAM exchange produced.
struct ScramRun {
  std::string offer;                 // the AuthenticationSASL mechanism list
  Outcome first = Outcome::kFailed;  // after SASLInitialResponse
  Outcome final = Outcome::kFailed;  // after SASLResponse
  bool server_verified = false;      // the client accepted the server's signature
  std::string final_reply;
};

// Runs a SCRAM exchange as a client would, on an authenticator that offered SCRAM: with
// `client_binding` (the hash of the certificate the client saw) it binds when PLUS is offered,
// as libpq's channel_binding=prefer does.
ScramRun scram_login(Authenticator& auth, protocol::ScramClientCredentials credentials,
                     std::string client_binding = {}) {
  ScramRun run;
  AuthRequest offer = parse_auth_request(auth.start());
  REQUIRE(offer.code == kAuthSasl);
  run.offer = offer.payload;
  CHECK((run.offer == kOfferPlain || run.offer == kOfferBoth));

  protocol::ScramClientSession client(
      std::move(credentials), "",
      protocol::ScramClientBinding{std::move(client_binding), run.offer == kOfferBoth});
  std::string reply;
  run.first =
      auth.handle(as_bytes(sasl_initial(client.mechanism(), client.client_first_message())), reply);
  if (run.first != Outcome::kContinue) {
    return run;
  }
  AuthRequest server_first = parse_auth_request(reply);
  REQUIRE(server_first.code == kAuthSaslContinue);

  auto client_final = client.handle_server_first(server_first.payload);
  REQUIRE(client_final.ok());
  reply.clear();
  run.final = auth.handle(as_bytes(*client_final), reply);
  run.final_reply = reply;
  if (run.final == Outcome::kOk) {
    AuthRequest server_final = parse_auth_request(reply);
    REQUIRE(server_final.code == kAuthSaslFinal);
    auto verified = client.verify_server_final(server_final.payload);
    run.server_verified = verified.ok() && *verified;
  }
  return run;
}

protocol::ScramClientCredentials with_password(std::string password) {
  protocol::ScramClientCredentials c;
  c.password = std::move(password);
  return c;
}

protocol::ScramKey sha256(const protocol::ScramKey& key) {
  protocol::ScramKey out{};
  SHA256(key.data(), key.size(), out.data());
  return out;
}

}  // namespace

TEST_CASE("trust needs no password and accepts whatever comes") {
  Authenticator auth(AuthType::kTrust, "alice", nullptr, kIterations);
  CHECK_FALSE(auth.needs_password());
  CHECK(auth.start().empty());
  std::string reply;
  CHECK(auth.handle(as_bytes(""sv), reply) == Outcome::kOk);
}

TEST_CASE("auth_type any needs no password either") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kAny, "alice", &secret, kIterations);
  CHECK_FALSE(auth.needs_password());
  CHECK(auth.start().empty());
}

TEST_CASE("plain asks for a cleartext password and checks it against a plain secret") {
  UserSecret secret = secret_of("alice", "pencil");
  CHECK(cleartext_login(AuthType::kPlain, &secret, "pencil") == Outcome::kOk);
  CHECK(cleartext_login(AuthType::kPlain, &secret, "pencil2") == Outcome::kFailed);
  CHECK(cleartext_login(AuthType::kPlain, &secret, "") == Outcome::kFailed);
}

TEST_CASE("plain checks a cleartext password against an md5 secret salted with the user name") {
  UserSecret secret = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  CHECK(cleartext_login(AuthType::kPlain, &secret, "pencil") == Outcome::kOk);
  CHECK(cleartext_login(AuthType::kPlain, &secret, "crayon") == Outcome::kFailed);
  // The stored secret itself is not the password.
  CHECK(cleartext_login(AuthType::kPlain, &secret, secret.secret) == Outcome::kFailed);
}

TEST_CASE("plain checks a cleartext password against a SCRAM verifier") {
  UserSecret secret = secret_of("alice", scram_verifier_for("pencil"));
  CHECK(cleartext_login(AuthType::kPlain, &secret, "pencil") == Outcome::kOk);
  CHECK(cleartext_login(AuthType::kPlain, &secret, "crayon") == Outcome::kFailed);
  CHECK(cleartext_login(AuthType::kPlain, &secret, secret.secret) == Outcome::kFailed);
}

TEST_CASE("plain fails a user missing from auth_file") {
  CHECK(cleartext_login(AuthType::kPlain, nullptr, "pencil") == Outcome::kFailed);
  CHECK(cleartext_login(AuthType::kPlain, nullptr, "") == Outcome::kFailed);
}

TEST_CASE("a cleartext password message without its NUL fails") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kPlain, "alice", &secret, kIterations);
  auth.start();
  std::string reply;
  CHECK(auth.handle(as_bytes("pencil"sv), reply) == Outcome::kFailed);
  CHECK_FALSE(auth.failure_detail().empty());
}

TEST_CASE("md5 with an md5 secret asks for an md5 password with a 4-byte salt") {
  UserSecret secret = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  Authenticator auth(AuthType::kMd5, "alice", &secret, kIterations);
  CHECK(auth.needs_password());
  AuthRequest request = parse_auth_request(auth.start());
  CHECK(request.code == kAuthMd5);
  CHECK(request.payload.size() == 4);
}

TEST_CASE("md5 accepts the answer salted with the salt it sent and nothing else") {
  UserSecret secret = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  for (auto [password, salt_delta, expected] :
       {std::tuple{"pencil", 0, Outcome::kOk}, std::tuple{"crayon", 0, Outcome::kFailed},
        std::tuple{"pencil", 1, Outcome::kFailed}}) {
    CAPTURE(password);
    CAPTURE(salt_delta);
    Authenticator auth(AuthType::kMd5, "alice", &secret, kIterations);
    AuthRequest request = parse_auth_request(auth.start());
    REQUIRE(request.code == kAuthMd5);
    protocol::Md5Salt salt{};
    for (std::size_t i = 0; i < salt.size(); ++i) {
      salt[i] = static_cast<std::uint8_t>(request.payload[i]);
    }
    salt[0] = static_cast<std::uint8_t>(salt[0] + salt_delta);
    // What libpq computes: md5(md5(password + user) + salt).
    std::string answer =
        protocol::md5_salted_response(protocol::md5_stored_secret(password, "alice"), salt);
    std::string reply;
    CHECK(auth.handle(as_bytes(cstring_body(answer)), reply) == expected);
    CHECK(reply.empty());
  }
}

TEST_CASE("md5 refuses the stored secret sent as the answer") {
  UserSecret secret = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  Authenticator auth(AuthType::kMd5, "alice", &secret, kIterations);
  auth.start();
  std::string reply;
  CHECK(auth.handle(as_bytes(cstring_body(secret.secret)), reply) == Outcome::kFailed);
}

TEST_CASE("md5 with a plain secret offers SCRAM, the strongest the secret allows") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kMd5, "alice", &secret, kIterations);
  CHECK(parse_auth_request(auth.start()).code == kAuthSasl);
}

TEST_CASE("md5 with a SCRAM verifier secret offers SCRAM") {
  UserSecret secret = secret_of("alice", scram_verifier_for("pencil"));
  Authenticator auth(AuthType::kMd5, "alice", &secret, kIterations);
  CHECK(parse_auth_request(auth.start()).code == kAuthSasl);
}

TEST_CASE("md5 with a plain secret completes a SCRAM login with the right password") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kMd5, "alice", &secret, kIterations);
  ScramRun run = scram_login(auth, with_password("pencil"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kOk);
  CHECK(run.server_verified);
}

TEST_CASE("scram-sha-256 with a plain secret: a full exchange succeeds and ends in SASLFinal") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  CHECK(auth.needs_password());
  ScramRun run = scram_login(auth, with_password("pencil"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kOk);
  CHECK(parse_auth_request(run.final_reply).code == kAuthSaslFinal);
  CHECK(run.server_verified);
}

TEST_CASE("scram-sha-256 with a plain secret leaves no pass-through keys") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  REQUIRE(scram_login(auth, with_password("pencil")).final == Outcome::kOk);
  // The pooler has the password itself, so it logs in to PostgreSQL with that.
  CHECK_FALSE(auth.scram_client_key().has_value());
  CHECK_FALSE(auth.scram_server_key().has_value());
}

TEST_CASE("scram-sha-256 with a plain secret fails the wrong password") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  ScramRun run = scram_login(auth, with_password("crayon"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kFailed);
  CHECK(run.final_reply.empty());
  CHECK_FALSE(auth.failure_detail().empty());
}

TEST_CASE("scram-sha-256 with a SCRAM verifier: a full exchange succeeds and ends in SASLFinal") {
  UserSecret secret = secret_of("alice", scram_verifier_for("pencil"));
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  ScramRun run = scram_login(auth, with_password("pencil"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kOk);
  CHECK(parse_auth_request(run.final_reply).code == kAuthSaslFinal);
  CHECK(run.server_verified);
}

TEST_CASE("scram-sha-256 with a SCRAM verifier fails the wrong password") {
  UserSecret secret = secret_of("alice", scram_verifier_for("pencil"));
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  ScramRun run = scram_login(auth, with_password("crayon"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kFailed);
  CHECK_FALSE(auth.scram_client_key().has_value());
}

TEST_CASE("after a SCRAM login against a verifier, the client and server keys are known") {
  auto verifier = protocol::make_scram_verifier("pencil", "0123456789abcdef", kIterations);
  UserSecret secret = secret_of("alice", protocol::format_scram_verifier(verifier));
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  CHECK_FALSE(auth.scram_client_key().has_value());
  REQUIRE(scram_login(auth, with_password("pencil")).final == Outcome::kOk);
  auto client_key = auth.scram_client_key();
  auto server_key = auth.scram_server_key();
  REQUIRE(client_key.has_value());
  REQUIRE(server_key.has_value());
  // StoredKey = H(ClientKey): the key is the one the client proved.
  CHECK(sha256(*client_key) == verifier.stored_key);
  CHECK(*server_key == verifier.server_key);
}

TEST_CASE("the keys recovered from a client login let the pooler log in where the verifier is") {
  UserSecret secret = secret_of("alice", scram_verifier_for("pencil"));
  Authenticator client_side(AuthType::kScramSha256, "alice", &secret, kIterations);
  REQUIRE(scram_login(client_side, with_password("pencil")).final == Outcome::kOk);
  // A second authenticator with the same verifier stands in for PostgreSQL.
  Authenticator server_side(AuthType::kScramSha256, "alice", &secret, kIterations);
  protocol::ScramClientCredentials pass_through;
  pass_through.client_key = client_side.scram_client_key();
  pass_through.server_key = client_side.scram_server_key();
  ScramRun run = scram_login(server_side, pass_through);
  CHECK(run.final == Outcome::kOk);
  CHECK(run.server_verified);
}

TEST_CASE("an unknown user is still offered SCRAM, then fails even with a plausible password") {
  for (AuthType type : {AuthType::kMd5, AuthType::kScramSha256}) {
    CAPTURE(static_cast<int>(type));
    Authenticator auth(type, "mallory", nullptr, kIterations);
    CHECK(auth.needs_password());
    ScramRun run = scram_login(auth, with_password(""));
    CHECK(run.first == Outcome::kContinue);
    CHECK(run.final == Outcome::kFailed);
    CHECK(run.final_reply.empty());
  }
}

TEST_CASE("scram-sha-256 with an md5 secret runs the exchange and cannot succeed") {
  UserSecret secret = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  ScramRun run = scram_login(auth, with_password("pencil"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kFailed);
}

TEST_CASE("a SASL initial response naming another mechanism fails") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  auth.start();
  std::string body = cstring_body("SCRAM-SHA-256-PLUS");
  ByteWriter(body).i32(3);
  body += "abc";
  std::string reply;
  CHECK(auth.handle(as_bytes(body), reply) == Outcome::kFailed);
  CHECK(reply.empty());
}

TEST_CASE("a SASL initial response whose length overruns the message fails") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  auth.start();
  std::string reply;
  std::string body = cstring_body(protocol::kScramSha256);
  ByteWriter(body).i32(100);
  body += "n,,n=,r=abc";
  CHECK(auth.handle(as_bytes(body), reply) == Outcome::kFailed);
  CHECK(auth.handle(as_bytes("SCRAM-SHA-256"sv), reply) == Outcome::kFailed);
  CHECK(auth.handle(as_bytes(""sv), reply) == Outcome::kFailed);
}

namespace {

// The salt a SCRAM offer shows, after the client's first message.
std::string salt_shown(Authenticator& auth) {
  REQUIRE(parse_auth_request(auth.start()).code == kAuthSasl);
  std::string first = "n,,n=,r=clientnonce";
  std::string initial = cstring_body(protocol::kScramSha256);
  ByteWriter(initial).i32(static_cast<std::int32_t>(first.size()));
  initial += first;
  std::string reply;
  REQUIRE(auth.handle(as_bytes(initial), reply) == Outcome::kContinue);
  std::string payload = parse_auth_request(reply).payload;
  auto s = payload.find(",s=");
  REQUIRE(s != std::string::npos);
  return payload.substr(s + 3, payload.find(',', s + 3) - s - 3);
}

}  // namespace

TEST_CASE("a missing user is shown the same salt on every attempt, like a real one") {
  constexpr std::string_view kSeed = "process-wide random seed";
  Authenticator first(AuthType::kScramSha256, "nobody", nullptr, kIterations, kSeed);
  Authenticator again(AuthType::kScramSha256, "nobody", nullptr, kIterations, kSeed);
  Authenticator other(AuthType::kScramSha256, "someone", nullptr, kIterations, kSeed);
  std::string salt = salt_shown(first);
  CHECK(salt_shown(again) == salt);
  CHECK(salt_shown(other) != salt);
  // A plain-text secret's derived verifier keeps its salt across attempts too.
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator plain1(AuthType::kScramSha256, "alice", &secret, kIterations, kSeed);
  Authenticator plain2(AuthType::kScramSha256, "alice", &secret, kIterations, kSeed);
  CHECK(salt_shown(plain1) == salt_shown(plain2));
}

TEST_CASE("a missing user's SCRAM exchange runs to the end and fails") {
  Authenticator auth(AuthType::kScramSha256, "nobody", nullptr, kIterations, "seed");
  ScramRun run = scram_login(auth, with_password("anything"));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kFailed);
  CHECK(std::string(auth.failure_message()) == "SASL authentication failed");
}

TEST_CASE("trust refuses a user missing from auth_file; any admits every name") {
  Authenticator trust(AuthType::kTrust, "nobody", nullptr, kIterations);
  CHECK(trust.refused_without_password());
  CHECK(std::string(trust.failure_message()) == "\"trust\" authentication failed");
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator listed(AuthType::kTrust, "alice", &secret, kIterations);
  CHECK_FALSE(listed.refused_without_password());
  Authenticator any(AuthType::kAny, "nobody", nullptr, kIterations);
  CHECK_FALSE(any.refused_without_password());
  CHECK_FALSE(any.needs_password());
}

TEST_CASE("failures are worded per method as PgBouncer words them") {
  UserSecret plain = secret_of("alice", "pencil");
  UserSecret md5 = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  CHECK(std::string(Authenticator(AuthType::kPlain, "alice", &plain, kIterations)
                        .failure_message()) == "password authentication failed");
  CHECK(std::string(Authenticator(AuthType::kMd5, "alice", &md5, kIterations)
                        .failure_message()) == "password authentication failed");
  CHECK(std::string(Authenticator(AuthType::kMd5, "alice", &plain, kIterations)
                        .failure_message()) == "SASL authentication failed");
  // A cleartext answer for a missing user fails like a wrong one.
  CHECK(cleartext_login(AuthType::kPlain, nullptr, "pencil") == Outcome::kFailed);
}

TEST_CASE("without channel-binding data the client is offered SCRAM-SHA-256 alone") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  AuthRequest offer = parse_auth_request(auth.start());
  CHECK(offer.code == kAuthSasl);
  CHECK(offer.payload == kOfferPlain);
}

TEST_CASE("with channel-binding data SCRAM-SHA-256-PLUS is offered first, then SCRAM-SHA-256") {
  UserSecret secret = secret_of("alice", "pencil");
  for (AuthType type : {AuthType::kMd5, AuthType::kScramSha256}) {
    CAPTURE(static_cast<int>(type));
    Authenticator auth(type, "alice", &secret, kIterations, {}, kCertificateHash);
    AuthRequest offer = parse_auth_request(auth.start());
    CHECK(offer.code == kAuthSasl);
    CHECK(offer.payload == kOfferBoth);
  }
}

TEST_CASE("channel-binding data changes nothing for md5 and cleartext logins") {
  UserSecret md5 = secret_of("alice", protocol::md5_stored_secret("pencil", "alice"));
  Authenticator md5_auth(AuthType::kMd5, "alice", &md5, kIterations, {}, kCertificateHash);
  CHECK(parse_auth_request(md5_auth.start()).code == kAuthMd5);
  UserSecret plain = secret_of("alice", "pencil");
  Authenticator plain_auth(AuthType::kPlain, "alice", &plain, kIterations, {}, kCertificateHash);
  CHECK(parse_auth_request(plain_auth.start()).code == kAuthCleartext);
}

TEST_CASE("a client that saw the same certificate logs in with SCRAM-SHA-256-PLUS") {
  UserSecret secret = secret_of("alice", scram_verifier_for("pencil"));
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations, {}, kCertificateHash);
  ScramRun run = scram_login(auth, with_password("pencil"), kCertificateHash);
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kOk);
  CHECK(run.server_verified);
  // A bound login still yields the keys for SCRAM pass-through.
  CHECK(auth.scram_client_key().has_value());
}

TEST_CASE("a client that saw another certificate fails the channel binding check") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations, {}, kCertificateHash);
  ScramRun run = scram_login(auth, with_password("pencil"), std::string(32, '\x6b'));
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kFailed);
  CHECK(run.final_reply.empty());
  CHECK(auth.failure_detail() == "SCRAM channel binding check failed");
  CHECK_FALSE(auth.scram_client_key().has_value());
}

TEST_CASE("with channel-binding data a client that does not bind still logs in") {
  // libpq with channel_binding=disable, or a client without TLS support in its SCRAM code.
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations, {}, kCertificateHash);
  ScramRun run = scram_login(auth, with_password("pencil"));
  CHECK(run.offer == kOfferBoth);
  CHECK(run.final == Outcome::kOk);
  CHECK(run.server_verified);
}

TEST_CASE("with channel-binding data a client answering 'y' is refused as a downgrade") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations, {}, kCertificateHash);
  auth.start();
  std::string reply;
  CHECK(auth.handle(as_bytes(sasl_initial(protocol::kScramSha256, "y,,n=,r=abc")), reply) ==
        Outcome::kFailed);
  CHECK(reply.empty());
  CHECK(auth.failure_detail().starts_with("SCRAM channel binding negotiation error"));
}

TEST_CASE("SCRAM-SHA-256-PLUS is an unsupported mechanism on a link without binding data") {
  UserSecret secret = secret_of("alice", "pencil");
  Authenticator auth(AuthType::kScramSha256, "alice", &secret, kIterations);
  auth.start();
  std::string reply;
  CHECK(auth.handle(
            as_bytes(sasl_initial(protocol::kScramSha256Plus, "p=tls-server-end-point,,n=,r=abc")),
            reply) == Outcome::kFailed);
  CHECK(reply.empty());
  CHECK(auth.failure_detail() == "unsupported SASL mechanism");
}

TEST_CASE("a missing user's bound SCRAM exchange runs to the end and fails like a wrong password") {
  Authenticator auth(AuthType::kScramSha256, "nobody", nullptr, kIterations, "seed",
                     kCertificateHash);
  ScramRun run = scram_login(auth, with_password("anything"), kCertificateHash);
  CHECK(run.offer == kOfferBoth);
  CHECK(run.first == Outcome::kContinue);
  CHECK(run.final == Outcome::kFailed);
  CHECK(run.final_reply.empty());
  CHECK(std::string(auth.failure_message()) == "SASL authentication failed");
}
