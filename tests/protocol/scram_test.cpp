// SCRAM-SHA-256 against RFC 7677's published exchange and a verifier stored by PostgreSQL 15, then
// both sessions against each other, against tampering and against malformed messages, and
// SCRAM-SHA-256-PLUS channel binding with PostgreSQL's rules for each gs2 flag.
#include "pooler/protocol/scram.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "pooler/util/result.hpp"

using pooler::protocol::format_scram_verifier;
using pooler::protocol::make_scram_verifier;
using pooler::protocol::parse_scram_verifier;
using pooler::protocol::ScramClientCredentials;
using pooler::protocol::ScramClientSession;
using pooler::protocol::ScramServerSession;
using pooler::protocol::ScramVerifier;
using namespace std::string_view_literals;

namespace {

// RFC 7677 section 3.
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcSalt =
    "\x5b\x6d\x99\x68\x9d\x12\x35\x8e\xec\xa0\x4b\x14\x12\x36\xfa\x81"sv;
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
// As published in RFC 7677 and recomputed with python3 hashlib: 44 characters for 32 bytes.
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// From a PostgreSQL 15 server: SET password_encryption = 'scram-sha-256'; CREATE ROLE x PASSWORD
// 'pencil'; SELECT rolpassword FROM pg_authid WHERE rolname = 'x'.
constexpr std::string_view kPostgresVerifier =
    "SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ==$4G5bIOPGqnWA8Os7bs7CTGedQTs8qzpTGh15bPouxqo=:"
    "f1rxKoWu34zGc38H3qcnEQtzY4h4PmdDBY4IpKWY+YY=";
constexpr std::string_view kPostgresSalt =
    "\x1a\xc9\x25\xb6\x3f\xe9\x19\x36\x66\x91\x86\x1d\x72\x0f\x01\xa1"sv;

ScramVerifier pencil_verifier() {
  return make_scram_verifier("pencil", kRfcSalt, 4096);
}

ScramClientCredentials password_credentials(std::string password) {
  ScramClientCredentials credentials;
  credentials.password = std::move(password);
  return credentials;
}

// A server that has already answered a PostgreSQL-style client-first with the given nonces.
std::string start_server(ScramServerSession& server, std::string_view client_nonce = "abc") {
  auto server_first = server.handle_client_first("n,,n=,r=" + std::string(client_nonce));
  REQUIRE(server_first.ok());
  return *server_first;
}

// A client that has already answered the given server-first.
void start_client(ScramClientSession& client, std::string_view server_first) {
  client.client_first_message();
  REQUIRE(client.handle_server_first(server_first).ok());
}

}  // namespace

TEST_CASE("the SCRAM client reproduces the RFC 7677 exchange byte for byte") {
  ScramClientCredentials credentials = password_credentials("pencil");
  credentials.user = "user";
  ScramClientSession client(credentials, std::string(kRfcClientNonce));

  CHECK(client.client_first_message() == kRfcClientFirst);
  auto client_final = client.handle_server_first(kRfcServerFirst);
  REQUIRE(client_final.ok());
  CHECK(*client_final == kRfcClientFinal);
  auto verified = client.verify_server_final(kRfcServerFinal);
  REQUIRE(verified.ok());
  CHECK(*verified);
}

TEST_CASE("the SCRAM server reproduces the RFC 7677 exchange byte for byte") {
  ScramServerSession server(pencil_verifier(), std::string(kRfcServerNonce));

  auto server_first = server.handle_client_first(kRfcClientFirst);
  REQUIRE(server_first.ok());
  CHECK(*server_first == kRfcServerFirst);
  auto server_final = server.handle_client_final(kRfcClientFinal);
  REQUIRE(server_final.ok());
  CHECK(*server_final == kRfcServerFinal);
  CHECK(server.client_key().has_value());
}

TEST_CASE("a verifier derived from a password equals the one PostgreSQL 15 stored for it") {
  CHECK(format_scram_verifier(make_scram_verifier("pencil", kPostgresSalt, 4096)) ==
        kPostgresVerifier);
}

TEST_CASE("a PostgreSQL verifier parses into its salt and iterations and formats back unchanged") {
  auto verifier = parse_scram_verifier(kPostgresVerifier);
  REQUIRE(verifier.has_value());
  CHECK(verifier->iterations == 4096);
  CHECK(verifier->salt == kPostgresSalt);
  ScramVerifier derived = make_scram_verifier("pencil", kPostgresSalt, 4096);
  CHECK(verifier->stored_key == derived.stored_key);
  CHECK(verifier->server_key == derived.server_key);
  CHECK(format_scram_verifier(*verifier) == kPostgresVerifier);
}

TEST_CASE("a derived verifier with unusual iterations survives format and parse") {
  ScramVerifier original = make_scram_verifier("correct horse", "\x00\x01\xff salt"sv, 17);
  auto parsed = parse_scram_verifier(format_scram_verifier(original));
  REQUIRE(parsed.has_value());
  CHECK(parsed->iterations == 17);
  CHECK(parsed->salt == original.salt);
  CHECK(parsed->stored_key == original.stored_key);
  CHECK(parsed->server_key == original.server_key);
}

TEST_CASE("text that is not a SCRAM verifier does not parse") {
  const std::string keys =
      "$4G5bIOPGqnWA8Os7bs7CTGedQTs8qzpTGh15bPouxqo=:f1rxKoWu34zGc38H3qcnEQtzY4h4PmdDBY4IpKWY+YY=";
  CHECK(parse_scram_verifier("SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ==" + keys).has_value());

  CHECK_FALSE(parse_scram_verifier("").has_value());
  CHECK_FALSE(parse_scram_verifier("pencil").has_value());
  CHECK_FALSE(parse_scram_verifier("md5ee69efad287c7423caf0b3229d71f567").has_value());
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-1$4096:Gskltj/pGTZmkYYdcg8BoQ==" + keys).has_value());
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-256$0:Gskltj/pGTZmkYYdcg8BoQ==" + keys).has_value());
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-256$-1:Gskltj/pGTZmkYYdcg8BoQ==" + keys).has_value());
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-256$99999999999:Gskltj/pGTZmkYYdcg8BoQ==" + keys)
                  .has_value());
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-256$4096:" + keys).has_value());
  CHECK_FALSE(
      parse_scram_verifier("SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ=" + keys).has_value());
  CHECK_FALSE(
      parse_scram_verifier("SCRAM-SHA-256$4096:Gskl tj/pGTZmkYYdcg8BoQ=" + keys).has_value());
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ==").has_value());
  CHECK_FALSE(
      parse_scram_verifier("SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ==" + keys + "x").has_value());
  // A key of 31 bytes.
  CHECK_FALSE(parse_scram_verifier("SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ==$"
                                   "4G5bIOPGqnWA8Os7bs7CTGedQTs8qzpTGh15bPouxg==:"
                                   "f1rxKoWu34zGc38H3qcnEQtzY4h4PmdDBY4IpKWY+YY=")
                  .has_value());
}

TEST_CASE("a client and a server holding the same password complete an exchange") {
  ScramServerSession server(pencil_verifier());
  ScramClientSession client(password_credentials("pencil"));

  std::string client_first = client.client_first_message();
  CHECK(client_first.starts_with("n,,n=,r="));
  // 18 random bytes in base64.
  CHECK(client_first.size() == std::string_view("n,,n=,r=").size() + 24);
  auto server_first = server.handle_client_first(client_first);
  REQUIRE(server_first.ok());
  auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final.ok());
  auto server_final = server.handle_client_final(*client_final);
  REQUIRE(server_final.ok());
  auto verified = client.verify_server_final(*server_final);
  REQUIRE(verified.ok());
  CHECK(*verified);
}

TEST_CASE("generated nonces differ between sessions") {
  ScramClientSession a(password_credentials("pencil"));
  ScramClientSession b(password_credentials("pencil"));
  CHECK(a.client_first_message() != b.client_first_message());

  ScramServerSession server_a(pencil_verifier());
  ScramServerSession server_b(pencil_verifier());
  CHECK(start_server(server_a) != start_server(server_b));
}

TEST_CASE("the server rejects a client proving a wrong password and recovers no client key") {
  ScramServerSession server(pencil_verifier());
  ScramClientSession client(password_credentials("pencil!"));

  auto server_first = server.handle_client_first(client.client_first_message());
  REQUIRE(server_first.ok());
  auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final.ok());
  auto server_final = server.handle_client_final(*client_final);
  CHECK_FALSE(server_final.ok());
  CHECK_FALSE(server.client_key().has_value());
}

TEST_CASE("the client rejects a server signature that was tampered with") {
  ScramClientSession client(password_credentials("pencil"), std::string(kRfcClientNonce));
  client.client_first_message();
  // The RFC exchange with n= empty: the proof and signature differ from the vector's.
  REQUIRE(client.handle_server_first(kRfcServerFirst).ok());

  SUBCASE("a genuine signature from another exchange (the vector's, made for n=user)") {
    CHECK_FALSE(client.verify_server_final(kRfcServerFinal).ok());
  }
  SUBCASE("a signature that is not base64") {
    CHECK_FALSE(client.verify_server_final("v=not base64!").ok());
  }
  SUBCASE("a truncated signature") {
    CHECK_FALSE(client.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjRD").ok());
  }
  SUBCASE("no signature at all") {
    CHECK_FALSE(client.verify_server_final("").ok());
  }
}

TEST_CASE("the client rejects the genuine server signature with one bit changed") {
  ScramServerSession server(pencil_verifier());
  ScramClientSession client(password_credentials("pencil"));
  auto server_first = server.handle_client_first(client.client_first_message());
  REQUIRE(server_first.ok());
  auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final.ok());
  auto server_final = server.handle_client_final(*client_final);
  REQUIRE(server_final.ok());

  std::string tampered = *server_final;
  char& c = tampered[2];
  c = c == 'A' ? 'B' : 'A';
  CHECK_FALSE(client.verify_server_final(tampered).ok());
  CHECK(client.verify_server_final(*server_final).ok());
}

TEST_CASE("the client reports a server's e= error as a failure carrying its text") {
  ScramClientSession client(password_credentials("pencil"));
  start_client(client, "r=" + client.client_first_message().substr(8) + "xyz,s=c2FsdA==,i=1");
  auto result = client.verify_server_final("e=invalid-proof");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().find("invalid-proof") != std::string::npos);
}

TEST_CASE("SCRAM pass-through: the client key a server recovers logs in to another server") {
  ScramVerifier verifier = *parse_scram_verifier(kPostgresVerifier);

  // The pooler verifies its client, which knows the password...
  ScramServerSession pooler_side(verifier);
  ScramClientSession application(password_credentials("pencil"));
  auto server_first = pooler_side.handle_client_first(application.client_first_message());
  REQUIRE(server_first.ok());
  auto client_final = application.handle_server_first(*server_first);
  REQUIRE(client_final.ok());
  REQUIRE(pooler_side.handle_client_final(*client_final).ok());
  REQUIRE(pooler_side.client_key().has_value());

  // ...then logs in to PostgreSQL, which holds the same verifier, without the password.
  ScramClientCredentials keys;
  keys.client_key = pooler_side.client_key();
  keys.server_key = verifier.server_key;
  ScramClientSession pooler_client(keys);
  ScramServerSession postgres(verifier);
  auto postgres_first = postgres.handle_client_first(pooler_client.client_first_message());
  REQUIRE(postgres_first.ok());
  auto pooler_final = pooler_client.handle_server_first(*postgres_first);
  REQUIRE(pooler_final.ok());
  auto postgres_final = postgres.handle_client_final(*pooler_final);
  REQUIRE(postgres_final.ok());
  auto verified = pooler_client.verify_server_final(*postgres_final);
  REQUIRE(verified.ok());
  CHECK(*verified);
}

TEST_CASE("SCRAM pass-through refuses to run without the server key to check the server") {
  ScramClientCredentials keys;
  keys.client_key = pooler::protocol::ScramKey{};
  ScramClientSession client(keys);
  client.client_first_message();
  CHECK_FALSE(client
                  .handle_server_first("r=" + client.client_first_message().substr(8) +
                                       "xyz,s=c2FsdA==,i=4096")
                  .ok());
}

TEST_CASE("the client sends the user name escaped as RFC 5802 saslname") {
  ScramClientCredentials credentials = password_credentials("pencil");
  credentials.user = "a,b=c";
  ScramClientSession client(credentials, "nonce");
  CHECK(client.client_first_message() == "n,,n=a=2Cb=3Dc,r=nonce");
}

TEST_CASE("the server accepts client-first messages PostgreSQL accepts") {
  ScramServerSession server(pencil_verifier(), "SERVER");
  SUBCASE("empty user, as PostgreSQL clients send") {
    CHECK(server.handle_client_first("n,,n=,r=abc").ok());
  }
  SUBCASE("a named user, ignored") {
    CHECK(server.handle_client_first("n,,n=someone=2Celse,r=abc").ok());
  }
  SUBCASE("'y': the client could bind but believes the server cannot") {
    auto server_first = server.handle_client_first("y,,n=,r=abc");
    REQUIRE(server_first.ok());
    CHECK(server_first->starts_with("r=abcSERVER,s="));
  }
  SUBCASE("optional extensions after the nonce") {
    CHECK(server.handle_client_first("n,,n=,r=abc,x=ext").ok());
  }
}

TEST_CASE("the server rejects client-first messages it cannot honour") {
  ScramServerSession server(pencil_verifier(), "SERVER");
  std::string_view message;
  SUBCASE("channel binding requested") {
    message = "p=tls-server-end-point,,n=,r=abc";
  }
  SUBCASE("an authorization identity") {
    message = "n,a=admin,n=,r=abc";
  }
  SUBCASE("a mandatory extension") {
    message = "n,,m=ext,n=,r=abc";
  }
  SUBCASE("an unknown gs2 flag") {
    message = "x,,n=,r=abc";
  }
  SUBCASE("an incomplete gs2 header") {
    message = "n,";
  }
  SUBCASE("no username") {
    message = "n,,r=abc";
  }
  SUBCASE("a badly escaped username") {
    message = "n,,n=a=2D,r=abc";
  }
  SUBCASE("no nonce") {
    message = "n,,n=";
  }
  SUBCASE("an empty nonce") {
    message = "n,,n=,r=";
  }
  SUBCASE("a nonce with a control character") {
    message = "n,,n=,r=a\x01z";
  }
  SUBCASE("a stray attribute") {
    message = "n,,n=,r=abc,junk";
  }
  SUBCASE("empty") {
    message = "";
  }
  CHECK_FALSE(server.handle_client_first(message).ok());
}

TEST_CASE("the server rejects client-final messages that do not continue its exchange") {
  ScramServerSession server(pencil_verifier(), std::string(kRfcServerNonce));
  REQUIRE(server.handle_client_first(kRfcClientFirst).ok());
  const std::string nonce = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  std::string message;
  SUBCASE("channel binding data other than the gs2 header sent") {
    message = "c=eSws," + nonce + "," + proof;
  }
  SUBCASE("a nonce other than the combined one") {
    message = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1," + proof;
  }
  SUBCASE("only the client's part of the nonce") {
    message = "c=biws,r=" + std::string(kRfcClientNonce) + "," + proof;
  }
  SUBCASE("the proof not last") {
    message = "c=biws," + nonce + "," + proof + ",x=ext";
  }
  SUBCASE("no proof") {
    message = "c=biws," + nonce;
  }
  SUBCASE("a short proof") {
    message = "c=biws," + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjf";
  }
  SUBCASE("attributes out of order") {
    message = nonce + ",c=biws," + proof;
  }
  CHECK_FALSE(server.handle_client_final(message).ok());
  CHECK_FALSE(server.client_key().has_value());
}

TEST_CASE("an extension slipped into a genuine client-final parses but breaks the proof") {
  ScramServerSession server(pencil_verifier(), "S");
  ScramClientSession client(password_credentials("pencil"), "C");
  auto server_first = server.handle_client_first(client.client_first_message());
  REQUIRE(server_first.ok());
  // The client's proof covers the message without extensions, so a genuine one cannot be reused
  // with an extension added: the AuthMessage changes.
  auto client_final = client.handle_server_first(*server_first);
  REQUIRE(client_final.ok());
  std::string with_extension = *client_final;
  with_extension.insert(with_extension.find(",p="), ",x=ext");
  auto result = server.handle_client_final(with_extension);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().find("proof") != std::string::npos);
}

TEST_CASE("the server allows one proof per exchange, so it cannot be used to guess passwords") {
  ScramServerSession server(pencil_verifier(), std::string(kRfcServerNonce));
  REQUIRE(server.handle_client_first(kRfcClientFirst).ok());
  std::string wrong(kRfcClientFinal);
  wrong.back() = 'A';
  wrong[wrong.size() - 2] = 'A';
  CHECK_FALSE(server.handle_client_final(wrong).ok());
  CHECK_FALSE(server.handle_client_final(kRfcClientFinal).ok());
}

TEST_CASE("the server rejects messages out of order") {
  ScramServerSession server(pencil_verifier(), std::string(kRfcServerNonce));
  CHECK_FALSE(server.handle_client_final(kRfcClientFinal).ok());
  REQUIRE(server.handle_client_first(kRfcClientFirst).ok());
  CHECK_FALSE(server.handle_client_first(kRfcClientFirst).ok());
}

TEST_CASE("the client rejects messages out of order") {
  ScramClientSession client(password_credentials("pencil"), std::string(kRfcClientNonce));
  CHECK_FALSE(client.handle_server_first(kRfcServerFirst).ok());
  CHECK_FALSE(client.verify_server_final(kRfcServerFinal).ok());
  client.client_first_message();
  REQUIRE(client.handle_server_first(kRfcServerFirst).ok());
  CHECK_FALSE(client.handle_server_first(kRfcServerFirst).ok());
}

TEST_CASE("the client rejects server-first messages it must not act on") {
  ScramClientSession client(password_credentials("pencil"), "abc");
  client.client_first_message();
  std::string_view message;
  SUBCASE("a nonce that does not start with the client's") {
    message = "r=abXc,s=c2FsdA==,i=4096";
  }
  SUBCASE("a nonce the server did not extend") {
    message = "r=abc,s=c2FsdA==,i=4096";
  }
  SUBCASE("a mandatory extension") {
    message = "m=ext,r=abcX,s=c2FsdA==,i=4096";
  }
  SUBCASE("a salt that is not base64") {
    message = "r=abcX,s=c2FsdA=,i=4096";
  }
  SUBCASE("an empty salt") {
    message = "r=abcX,s=,i=4096";
  }
  SUBCASE("zero iterations") {
    message = "r=abcX,s=c2FsdA==,i=0";
  }
  SUBCASE("negative iterations") {
    message = "r=abcX,s=c2FsdA==,i=-1";
  }
  SUBCASE("iterations that would tie the pooler up") {
    message = "r=abcX,s=c2FsdA==,i=10000001";
  }
  SUBCASE("iterations that overflow") {
    message = "r=abcX,s=c2FsdA==,i=99999999999999999999";
  }
  SUBCASE("iterations with trailing text") {
    message = "r=abcX,s=c2FsdA==,i=4096x";
  }
  SUBCASE("attributes out of order") {
    message = "s=c2FsdA==,r=abcX,i=4096";
  }
  SUBCASE("no iteration count") {
    message = "r=abcX,s=c2FsdA==";
  }
  SUBCASE("a stray attribute") {
    message = "r=abcX,s=c2FsdA==,i=4096,junk";
  }
  CHECK_FALSE(client.handle_server_first(message).ok());
}

TEST_CASE("the client accepts extensions after the iteration count") {
  ScramClientSession client(password_credentials("pencil"), "abc");
  client.client_first_message();
  CHECK(client.handle_server_first("r=abcX,s=c2FsdA==,i=1,x=ext").ok());
}

namespace {

using pooler::protocol::kScramSha256;
using pooler::protocol::kScramSha256Plus;
using pooler::protocol::ScramClientBinding;

// A tls-server-end-point hash: SHA-256 of some certificate bytes, as net/ would hand it over.
constexpr std::string_view kCertificateHash =
    "\x73\x21\xe8\xef\xc4\x5b\x27\xe9\xa9\xbf\x84\x08\x45\xd1\xda\x5d\xfc\x94\x9e\x7b\x49\xa4\xc1"
    "\x63\x93\x73\xdf\x9e\x2e\xdf\x33\x2a"sv;
// base64("p=tls-server-end-point,," + kCertificateHash), computed with python3's base64.
constexpr std::string_view kBoundChannelBinding =
    "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwscyHo78RbJ+mpv4QIRdHaXfyUnntJpMFjk3Pfni7fMyo=,";

// What one exchange between the two sessions ended with.
struct Exchange {
  pooler::util::Result<std::string> server_first = pooler::util::Error{"not run"};
  pooler::util::Result<std::string> client_final = pooler::util::Error{"not run"};
  pooler::util::Result<std::string> server_final = pooler::util::Error{"not run"};
  bool client_verified = false;
};

// Runs a whole exchange, the server told the mechanism the client picked, stopping at the first
// error.
Exchange run_exchange(ScramServerSession& server, ScramClientSession& client) {
  Exchange out;
  out.server_first = server.handle_client_first(client.client_first_message(), client.mechanism());
  if (!out.server_first.ok()) {
    return out;
  }
  out.client_final = client.handle_server_first(*out.server_first);
  if (!out.client_final.ok()) {
    return out;
  }
  out.server_final = server.handle_client_final(*out.client_final);
  if (out.server_final.ok()) {
    auto verified = client.verify_server_final(*out.server_final);
    out.client_verified = verified.ok() && *verified;
  }
  return out;
}

bool mentions(const pooler::util::Result<std::string>& result, std::string_view text) {
  return !result.ok() && result.error().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("channel binding: both ends holding the same certificate hash complete a PLUS exchange") {
  ScramServerSession server(pencil_verifier(), "", std::string(kCertificateHash));
  ScramClientSession client(password_credentials("pencil"), "abc",
                            ScramClientBinding{std::string(kCertificateHash), true});
  CHECK(client.mechanism() == kScramSha256Plus);

  Exchange run = run_exchange(server, client);
  REQUIRE(run.server_first.ok());
  REQUIRE(run.client_final.ok());
  // c= carries the gs2 header and then the hash, as PostgreSQL computes it.
  CHECK(run.client_final->starts_with(kBoundChannelBinding));
  REQUIRE(run.server_final.ok());
  CHECK(run.client_verified);
  CHECK(server.client_key().has_value());
}

TEST_CASE("channel binding: the client's first message asks for tls-server-end-point") {
  ScramClientSession client(password_credentials("pencil"), "abc",
                            ScramClientBinding{std::string(kCertificateHash), true});
  CHECK(client.client_first_message() == "p=tls-server-end-point,,n=,r=abc");
}

TEST_CASE("channel binding: a certificate hash other than the server's fails the binding check") {
  // What a man in the middle terminating the client's TLS with its own certificate looks like.
  std::string other_hash(kCertificateHash);
  other_hash[0] = static_cast<char>(other_hash[0] ^ 1);
  ScramServerSession server(pencil_verifier(), "", std::string(kCertificateHash));
  ScramClientSession client(password_credentials("pencil"), "",
                            ScramClientBinding{other_hash, true});

  Exchange run = run_exchange(server, client);
  REQUIRE(run.client_final.ok());
  CHECK(mentions(run.server_final, "SCRAM channel binding check failed"));
  CHECK_FALSE(server.client_key().has_value());
}

TEST_CASE("channel binding: a PLUS client-final carrying only the gs2 header fails the check") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  REQUIRE(server.handle_client_first("p=tls-server-end-point,,n=,r=C", kScramSha256Plus).ok());
  // base64("p=tls-server-end-point,,"), without the hash.
  auto result = server.handle_client_final(
      "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=CS,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  CHECK(mentions(result, "SCRAM channel binding check failed"));
}

TEST_CASE("channel binding: 'y' is refused when the server can bind, as a downgrade attack") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  CHECK(mentions(server.handle_client_first("y,,n=,r=abc", kScramSha256),
                 "SCRAM channel binding negotiation error"));
}

TEST_CASE("channel binding: a client with the hash but no PLUS offered sends 'y,,'") {
  ScramClientSession client(password_credentials("pencil"), "abc",
                            ScramClientBinding{std::string(kCertificateHash), false});
  CHECK(client.mechanism() == kScramSha256);
  CHECK(client.client_first_message() == "y,,n=,r=abc");

  SUBCASE("a server that cannot bind accepts it, c= repeating 'y,,'") {
    ScramServerSession server(pencil_verifier());
    Exchange run = run_exchange(server, client);
    REQUIRE(run.client_final.ok());
    CHECK(run.client_final->starts_with("c=eSws,"));
    REQUIRE(run.server_final.ok());
    CHECK(run.client_verified);
  }
  SUBCASE("a server that offered PLUS (the list was stripped in transit) refuses it") {
    ScramServerSession server(pencil_verifier(), "", std::string(kCertificateHash));
    Exchange run = run_exchange(server, client);
    CHECK(mentions(run.server_first, "SCRAM channel binding negotiation error"));
  }
}

TEST_CASE("channel binding: without the hash the client sends 'n,,' even when PLUS is offered") {
  ScramClientSession client(password_credentials("pencil"), "abc", ScramClientBinding{"", true});
  CHECK(client.mechanism() == kScramSha256);
  CHECK(client.client_first_message() == "n,,n=,r=abc");
}

TEST_CASE("channel binding: a server that can bind still accepts a client that cannot ('n')") {
  ScramServerSession server(pencil_verifier(), "", std::string(kCertificateHash));
  ScramClientSession client(password_credentials("pencil"));
  Exchange run = run_exchange(server, client);
  REQUIRE(run.server_final.ok());
  CHECK(run.client_verified);
}

TEST_CASE("channel binding: 'p=' under plain SCRAM-SHA-256 is a malformed message") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  auto result = server.handle_client_first("p=tls-server-end-point,,n=,r=abc", kScramSha256);
  CHECK(mentions(result, "malformed SCRAM client-first-message"));
  CHECK(mentions(result, "without channel binding"));
}

TEST_CASE("channel binding: SCRAM-SHA-256-PLUS without binding data in the message is malformed") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  for (std::string_view message : {"n,,n=,r=abc"sv, "y,,n=,r=abc"sv}) {
    CAPTURE(message);
    auto result = server.handle_client_first(message, kScramSha256Plus);
    CHECK(mentions(result, "malformed SCRAM client-first-message"));
    CHECK(mentions(result, "does not include channel binding data"));
  }
}

TEST_CASE("channel binding: a channel-binding type other than tls-server-end-point fails") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  CHECK(mentions(server.handle_client_first("p=tls-unique,,n=,r=abc", kScramSha256Plus),
                 "unsupported SCRAM channel-binding type \"tls-unique\""));
  CHECK(mentions(server.handle_client_first("p=,,n=,r=abc", kScramSha256Plus),
                 "unsupported SCRAM channel-binding type"));
}

TEST_CASE("channel binding: an unknown type is quoted printable and short, for the log") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  std::string message = "p=tls\x01\xff" + std::string(100, 'x') + ",,n=,r=abc";
  auto result = server.handle_client_first(message, kScramSha256Plus);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error() ==
        "unsupported SCRAM channel-binding type \"tls??" + std::string(25, 'x') + "\"");
}

TEST_CASE("channel binding: SCRAM-SHA-256-PLUS chosen where no binding data exists is refused") {
  // Only offered over TLS, so a client naming it on a plain link names an unknown mechanism.
  ScramServerSession server(pencil_verifier(), "S");
  CHECK(mentions(server.handle_client_first("p=tls-server-end-point,,n=,r=abc", kScramSha256Plus),
                 "invalid SASL authentication mechanism"));
  CHECK_FALSE(server.handle_client_first("n,,n=,r=abc", "SCRAM-SHA-1").ok());
}

TEST_CASE("channel binding: a PLUS gs2 header with an authorization identity is refused") {
  ScramServerSession server(pencil_verifier(), "S", std::string(kCertificateHash));
  CHECK_FALSE(
      server.handle_client_first("p=tls-server-end-point,a=admin,n=,r=abc", kScramSha256Plus).ok());
}
