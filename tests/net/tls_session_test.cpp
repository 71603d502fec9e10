// TlsSession as a transport: handshake, plaintext both ways in any chunking, held plaintext,
// close_notify, garbage, and what the observer hears. Certificates are made per test case.
#include "pooler/net/tls_session.hpp"

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <string>

#include "../util/lcg.hpp"
#include "tls_pair.hpp"

namespace {

using pooler::net::TlsRole;
using pooler::net::TlsSession;
using pooler::testing::client_settings;
using pooler::testing::make_context;
using pooler::testing::RecordingObserver;
using pooler::testing::server_settings;
using pooler::testing::TestPki;
using pooler::testing::TlsPair;
using Status = TlsSession::Status;

TlsPair plain_pair(const TestPki& pki) {
  return TlsPair(make_context(server_settings(pki)), make_context(client_settings(pki)));
}

std::string patterned(std::size_t size) {
  std::string text(size, '\0');
  pooler::testing::Lcg lcg(size);
  for (char& c : text) {
    c = static_cast<char>(lcg.next());
  }
  return text;
}

std::string sha256(const std::string& data) {
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr) == 1);
  return std::string(reinterpret_cast<const char*>(hash), length);
}

// ^TLSv1\.[23]/[A-Z0-9_-]+(/ECDH=\S+)?$ by hand: GCC 12's <regex> trips -Werror under ASan.
bool pgbouncer_tls_format(const std::string& text) {
  if (text.rfind("TLSv1.2/", 0) != 0 && text.rfind("TLSv1.3/", 0) != 0) {
    return false;
  }
  std::size_t end = text.find('/', 8);
  std::string cipher = text.substr(8, end == std::string::npos ? end : end - 8);
  if (cipher.empty() ||
      cipher.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos) {
    return false;
  }
  if (end == std::string::npos) {
    return true;
  }
  std::string group = text.substr(end);
  return group.rfind("/ECDH=", 0) == 0 && group.size() > 6 &&
         group.find_first_of(" \t\r\n\f\v", 6) == std::string::npos;
}

// The ClientHello a client session sends first.
std::string client_hello(const TestPki& pki) {
  TlsSession client(make_context(client_settings(pki)), "localhost");
  pooler::testing::TlsEndpoint io;
  REQUIRE(client.start(io) == Status::kOpen);
  REQUIRE(!io.outbox.empty());
  return io.outbox;
}

}  // namespace

TEST_CASE("a TLS handshake completes in memory and each side hears of it exactly once") {
  TestPki pki;
  TlsPair pair = plain_pair(pki);
  pair.handshake();
  CHECK(pair.server_status == Status::kOpen);
  CHECK(pair.client_status == Status::kOpen);
  CHECK(pair.both_established());
  CHECK(pair.server_io.established == 1);
  CHECK(pair.client_io.established == 1);
  CHECK(pair.server->error().empty());
  CHECK(pair.client->error().empty());
  pair.client_send("more");
  pair.pump();
  CHECK(pair.server_io.established == 1);
  CHECK(pair.client_io.established == 1);
}

TEST_CASE("plaintext crosses TLS byte-identical both ways, a 1 MB message included") {
  TestPki pki;
  TlsPair pair = plain_pair(pki);
  pair.handshake();
  REQUIRE(pair.both_established());
  pair.client_send("SELECT 1");
  pair.server_send(std::string("\0\x01\xff binary", 10));
  pair.pump();
  CHECK(pair.server_io.received == "SELECT 1");
  CHECK(pair.client_io.received == std::string("\0\x01\xff binary", 10));

  const std::string big = patterned(1 << 20);
  pair.server_io.received.clear();
  pair.client_io.received.clear();
  pair.client_send(big);
  pair.server_send(big);
  pair.pump();
  CHECK(pair.server_status == Status::kOpen);
  CHECK(pair.client_status == Status::kOpen);
  CHECK(pair.server_io.received.size() == big.size());
  CHECK(pair.server_io.received == big);
  CHECK(pair.client_io.received == big);
}

TEST_CASE("ciphertext fed one byte at a time completes the handshake and delivers every byte") {
  TestPki pki;
  TlsPair pair = plain_pair(pki);
  pair.handshake(1);
  REQUIRE(pair.both_established());
  const std::string message = patterned(40000);  // three records, each split 16 K ways
  pair.client_send(message);
  pair.server_send("hello");
  pair.pump(1);
  CHECK(pair.server_io.received == message);
  CHECK(pair.client_io.received == "hello");
  CHECK(pair.server_status == Status::kOpen);
  CHECK(pair.client_status == Status::kOpen);
}

TEST_CASE("plaintext sent before the handshake is held and delivered after it, in order") {
  TestPki pki;
  TlsPair pair = plain_pair(pki);
  pair.client_send("first ");
  pair.client_send("second");
  pair.server_send("early server words");
  CHECK(pair.client_io.outbox.empty());  // nothing leaves before the ClientHello
  CHECK(pair.server_io.outbox.empty());
  pair.handshake();
  REQUIRE(pair.both_established());
  CHECK(pair.server_io.received == "first second");
  CHECK(pair.client_io.received == "early server words");
}

TEST_CASE("description() reads like PgBouncer's tls column, under TLS 1.3 and TLS 1.2") {
  CHECK(pgbouncer_tls_format("TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519"));
  CHECK(pgbouncer_tls_format("TLSv1.2/ECDHE-ECDSA-AES256-GCM-SHA384"));
  CHECK_FALSE(pgbouncer_tls_format("TLSv1.3/TLS_AES_256_GCM_SHA384/DH=ffdhe2048"));
  CHECK_FALSE(pgbouncer_tls_format("TLSv1.1/AES256-SHA"));
  CHECK_FALSE(pgbouncer_tls_format("TLSv1.3/"));
  TestPki pki;
  for (const char* protocols : {"secure", "tlsv1.2"}) {
    CAPTURE(protocols);
    auto client = client_settings(pki);
    client.protocols = protocols;
    TlsPair pair(make_context(server_settings(pki)), make_context(client));
    CHECK(pair.client->description().empty());  // nothing negotiated yet
    pair.handshake();
    REQUIRE(pair.both_established());
    const std::string text = pair.server->description();
    CAPTURE(text);
    CHECK(pgbouncer_tls_format(text));
    CHECK(pair.client->description() == text);
    const std::string version = std::string(protocols) == "secure" ? "TLSv1.3/" : "TLSv1.2/";
    CHECK(text.rfind(version, 0) == 0);
  }
}

TEST_CASE("both ends agree on tls-server-end-point: SHA-256 of the server certificate's DER") {
  TestPki pki;
  TlsPair pair = plain_pair(pki);
  CHECK(pair.server->server_end_point().empty());  // before the handshake there is none
  pair.handshake();
  REQUIRE(pair.both_established());
  const std::string expected = sha256(pki.server.issued.der);
  CHECK(expected.size() == 32);
  CHECK(pair.server->server_end_point() == expected);
  CHECK(pair.client->server_end_point() == expected);
}

TEST_CASE("close_notify from either side reads as kPeerClosed on the other") {
  TestPki pki;
  SUBCASE("the client closes") {
    TlsPair pair = plain_pair(pki);
    pair.handshake();
    REQUIRE(pair.both_established());
    pair.client_send("last words");
    pair.client->shutdown(pair.client_io);
    pair.pump();
    CHECK(pair.server_io.received == "last words");
    CHECK(pair.server_status == Status::kPeerClosed);
    // The closed side refuses to send more.
    CHECK(pair.client->send(pooler::util::as_bytes("x"), pair.client_io) == Status::kFailed);
  }
  SUBCASE("the server closes") {
    TlsPair pair = plain_pair(pki);
    pair.handshake();
    REQUIRE(pair.both_established());
    pair.server->shutdown(pair.server_io);
    pair.pump();
    CHECK(pair.client_status == Status::kPeerClosed);
    CHECK(pair.client->error().empty());
  }
}

TEST_CASE("garbage sent to a TLS server fails the session without crashing") {
  TestPki pki;
  auto context = make_context(server_settings(pki));
  SUBCASE("an HTTP request") {
    TlsSession server(context);
    pooler::testing::TlsEndpoint io;
    REQUIRE(server.start(io) == Status::kOpen);
    const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    CHECK(server.receive(pooler::util::as_bytes(request), io) == Status::kFailed);
    CHECK(!server.error().empty());
    CHECK(!server.established());
    // A failed session stays failed.
    CHECK(server.receive(pooler::util::as_bytes(request), io) == Status::kFailed);
  }
  SUBCASE("random bytes, in random chunks") {
    pooler::testing::Lcg lcg(7);
    for (int round = 0; round < 50; ++round) {
      TlsSession server(context);
      pooler::testing::TlsEndpoint io;
      std::string junk = patterned(1 + lcg.next() % 4000);
      junk[0] = static_cast<char>(0x16);  // a handshake record, to get past the first byte
      Status status = Status::kOpen;
      pooler::util::Bytes rest = pooler::util::as_bytes(junk);
      while (!rest.empty() && status == Status::kOpen) {
        std::size_t n = std::min<std::size_t>(rest.size(), 1 + lcg.next() % 300);
        status = server.receive(rest.first(n), io);
        rest = rest.subspan(n);
      }
      CHECK(!server.established());
      CHECK((status == Status::kOpen || status == Status::kFailed));
    }
  }
}

TEST_CASE("a truncated ClientHello leaves the server waiting, neither failed nor established") {
  TestPki pki;
  const std::string hello = client_hello(pki);
  TlsSession server(make_context(server_settings(pki)));
  pooler::testing::TlsEndpoint io;
  REQUIRE(server.start(io) == Status::kOpen);
  auto half = pooler::util::as_bytes(hello).first(hello.size() / 2);
  CHECK(server.receive(half, io) == Status::kOpen);
  CHECK(server.receive({}, io) == Status::kOpen);  // nothing more came
  CHECK(io.outbox.empty());
  CHECK(!server.established());
  CHECK(server.error().empty());
}

TEST_CASE("the observer hears of one good handshake per side and of each established close") {
  TestPki pki;
  RecordingObserver server_observer;
  RecordingObserver client_observer;
  {
    TlsPair pair(make_context(server_settings(pki), &server_observer),
                 make_context(client_settings(pki), &client_observer));
    pair.handshake();
    REQUIRE(pair.both_established());
    pair.client_send("x");
    pair.pump();
    CHECK(server_observer.count(TlsRole::kServer, true) == 1);
    CHECK(client_observer.count(TlsRole::kClient, true) == 1);
    CHECK(server_observer.handshakes.size() == 1);
    CHECK(client_observer.handshakes.size() == 1);
    CHECK(server_observer.closed.empty());
  }
  REQUIRE(server_observer.closed.size() == 1);
  CHECK(server_observer.closed[0] == TlsRole::kServer);
  REQUIRE(client_observer.closed.size() == 1);
  CHECK(client_observer.closed[0] == TlsRole::kClient);
  CHECK(server_observer.handshakes.size() == 1);  // destruction adds no handshake
}

TEST_CASE("the observer hears of a failed handshake once, and of no close") {
  TestPki pki;
  RecordingObserver observer;
  {
    TlsSession server(make_context(server_settings(pki), &observer));
    pooler::testing::TlsEndpoint io;
    CHECK(server.receive(pooler::util::as_bytes("GET / HTTP/1.1\r\n\r\n"), io) == Status::kFailed);
    CHECK(observer.count(TlsRole::kServer, false) == 1);
  }
  CHECK(observer.handshakes.size() == 1);
  CHECK(observer.closed.empty());
}

TEST_CASE("a handshake abandoned half way counts as a failed one") {
  TestPki pki;
  RecordingObserver observer;
  const std::string hello = client_hello(pki);
  {
    TlsSession server(make_context(server_settings(pki), &observer));
    pooler::testing::TlsEndpoint io;
    CHECK(server.receive(pooler::util::as_bytes(hello).first(10), io) == Status::kOpen);
    CHECK(observer.handshakes.empty());
  }
  REQUIRE(observer.handshakes.size() == 1);
  CHECK(observer.handshakes[0].role == TlsRole::kServer);
  CHECK_FALSE(observer.handshakes[0].ok);
  CHECK(observer.closed.empty());
}

// SSL_get_error() takes any queued error for the call's own: an error some other OpenSSL user
// left on the thread (a failed look-up, a libpq call, another session) must not fail this one.
TEST_CASE("an error left on the thread's OpenSSL queue by someone else does not fail a session") {
  TestPki pki;
  TlsPair pair = plain_pair(pki);
  pair.handshake();
  REQUIRE(pair.both_established());
  SUBCASE("left before the call") {
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    pair.client_send("SELECT 1");
    pair.pump();
    CHECK(pair.server_status == Status::kOpen);
    CHECK(pair.server->error().empty());
    CHECK(pair.server_io.received == "SELECT 1");
  }
  SUBCASE("left by the owner while plaintext is delivered") {
    pair.server_io.on_plaintext = [] { ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH); };
    const std::string big = patterned(1 << 20);  // many deliveries within one receive()
    pair.client_send(big);
    pair.pump();
    CHECK(pair.server_status == Status::kOpen);
    CHECK(pair.server->error().empty());
    CHECK(pair.server_io.received == big);
  }
  ERR_clear_error();
}

// OpenSSL hands over the good records of a receive() before it reports the bad one; the owner
// answering them (another SSL call) must not wipe the reason of the failure that follows.
TEST_CASE("a corrupted record after good ones fails with OpenSSL's reason, owner writes or not") {
  TestPki pki;
  for (bool owner_writes : {false, true}) {
    CAPTURE(owner_writes);
    TlsPair pair = plain_pair(pki);
    pair.handshake();
    REQUIRE(pair.both_established());
    pair.client_send("first record");
    pair.client_send("second record");
    std::string ciphertext;
    ciphertext.swap(pair.client_io.outbox);
    ciphertext.back() = static_cast<char>(ciphertext.back() ^ 1);  // the second record's tag
    if (owner_writes) {
      pair.server_io.on_plaintext = [&pair] { pair.server_send("answer"); };
    }
    Status status = pair.server->receive(pooler::util::as_bytes(ciphertext), pair.server_io);
    CHECK(status == Status::kFailed);
    CHECK(pair.server_io.received == "first record");
    CAPTURE(pair.server->error());
    CHECK(pair.server->error().find("bad record mac") != std::string::npos);
  }
}
