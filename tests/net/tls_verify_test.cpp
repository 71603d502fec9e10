// What a TLS handshake accepts and refuses: server names and chains (verify-full), client
// certificates (verify-ca towards clients), ALPN, and protocol versions.
#include <doctest/doctest.h>

#include <string>

#include "pooler/net/tls_session.hpp"
#include "tls_pair.hpp"

namespace {

using pooler::net::TlsSettings;
using pooler::net::TlsVerify;
using pooler::testing::client_settings;
using pooler::testing::make_context;
using pooler::testing::server_settings;
using pooler::testing::TestPki;
using pooler::testing::TlsPair;
using Status = pooler::net::TlsSession::Status;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A verify-full client connecting to `peer_name`, the server presenting `files`.
TlsPair verify_full(const TestPki& pki, const pooler::testing::CertificateFiles& files,
                    const std::string& peer_name) {
  TlsSettings server = server_settings(pki);
  server.cert_file = files.cert_file;
  server.key_file = files.key_file;
  TlsPair pair(make_context(server), make_context(client_settings(pki)), peer_name);
  pair.handshake();
  return pair;
}

// A server demanding a client certificate from the test CA (TlsVerify::kChain).
TlsSettings verify_ca_server(const TestPki& pki) {
  TlsSettings s = server_settings(pki);
  s.verify = TlsVerify::kChain;
  s.ca_file = pki.ca_file;
  return s;
}

TlsPair with_alpn(const TestPki& pki, const std::string& client_alpn) {
  TlsSettings server = server_settings(pki);
  server.alpn = "postgresql";
  TlsSettings client = client_settings(pki);
  client.alpn = client_alpn;
  TlsPair pair(make_context(server), make_context(client));
  pair.handshake();
  return pair;
}

}  // namespace

TEST_CASE("verify-full accepts the server's DNS name and IP literals from subjectAltName") {
  TestPki pki;
  for (const char* name : {"localhost", "db.pooler.test", "127.0.0.1", "::1"}) {
    CAPTURE(name);
    TlsPair pair = verify_full(pki, pki.server, name);
    CHECK(pair.both_established());
    CHECK(pair.client->error().empty());
    CHECK(pair.client->peer_certificate_present());
  }
}

TEST_CASE("verify-full refuses a name the certificate does not carry") {
  TestPki pki;
  SUBCASE("a DNS name") {
    TlsPair pair = verify_full(pki, pki.server, "other.pooler.test");
    CHECK(pair.client_status == Status::kFailed);
    CHECK(!pair.client->established());
    CHECK(contains(pair.client->error(), "certificate verify failed: hostname mismatch"));
    // The alert the client sent fails the server too.
    CHECK(pair.server_status == Status::kFailed);
  }
  SUBCASE("an IP address") {
    TlsPair pair = verify_full(pki, pki.server, "10.1.2.3");
    CHECK(pair.client_status == Status::kFailed);
    CHECK(contains(pair.client->error(), "certificate verify failed: IP address mismatch"));
  }
  SUBCASE("the common name is not a host name to match") {
    TlsPair pair = verify_full(pki, pki.server, "pooler test server");
    CHECK(pair.client_status == Status::kFailed);
    CHECK(contains(pair.client->error(), "certificate verify failed"));
  }
}

TEST_CASE("verify-full refuses an expired certificate and one from an unknown CA") {
  TestPki pki;
  SUBCASE("expired") {
    TlsPair pair = verify_full(pki, pki.expired, "localhost");
    CHECK(pair.client_status == Status::kFailed);
    CHECK(contains(pair.client->error(), "certificate verify failed: certificate has expired"));
  }
  SUBCASE("another CA") {
    TlsPair pair = verify_full(pki, pki.stranger, "localhost");
    CHECK(pair.client_status == Status::kFailed);
    CHECK(contains(pair.client->error(),
                   "certificate verify failed: unable to get local issuer certificate"));
    CHECK(!pair.server->established());
  }
}

TEST_CASE("verify-ca checks the chain but not the name") {
  TestPki pki;
  TlsPair pair(make_context(server_settings(pki)),
               make_context(client_settings(pki, TlsVerify::kChain)), "other.pooler.test");
  pair.handshake();
  CHECK(pair.both_established());

  TlsSettings server = server_settings(pki);
  server.cert_file = pki.stranger.cert_file;
  server.key_file = pki.stranger.key_file;
  TlsPair stranger(make_context(server), make_context(client_settings(pki, TlsVerify::kChain)));
  stranger.handshake();
  CHECK(stranger.client_status == Status::kFailed);
}

TEST_CASE("a server demanding client certificates refuses a client without one") {
  TestPki pki;
  TlsPair pair(make_context(verify_ca_server(pki)), make_context(client_settings(pki)));
  pair.handshake();
  CHECK(pair.server_status == Status::kFailed);
  CHECK(!pair.server->established());
  CHECK(!pair.server->error().empty());
  // Under TLS 1.3 the client finishes first and learns of the refusal from the alert.
  CHECK(pair.client_status == Status::kFailed);
  CHECK(!pair.client->error().empty());
}

TEST_CASE("a client certificate from the CA passes and its common name is the peer's") {
  TestPki pki;
  TlsSettings client = client_settings(pki);
  client.cert_file = pki.client.cert_file;
  client.key_file = pki.client.key_file;
  TlsPair pair(make_context(verify_ca_server(pki)), make_context(client));
  pair.handshake();
  REQUIRE(pair.both_established());
  CHECK(pair.server_status == Status::kOpen);
  CHECK(pair.server->peer_certificate_present());
  CHECK(pair.server->peer_common_name() == TestPki::kClientName);
}

TEST_CASE("a client certificate from another CA is refused") {
  TestPki pki;
  pooler::testing::LeafSpec spec;
  spec.common_name = TestPki::kClientName;
  spec.client = true;
  auto files = pki.write("foreign-client", pki.other_ca.issue(spec));
  TlsSettings client = client_settings(pki);
  client.cert_file = files.cert_file;
  client.key_file = files.key_file;
  TlsPair pair(make_context(verify_ca_server(pki)), make_context(client));
  pair.handshake();
  CHECK(pair.server_status == Status::kFailed);
  CHECK(contains(pair.server->error(), "certificate verify failed"));
  CHECK(pair.server->peer_common_name().empty());
}

TEST_CASE("without verification a server reports no peer certificate") {
  TestPki pki;
  TlsPair pair(make_context(server_settings(pki)), make_context(client_settings(pki)));
  pair.handshake();
  REQUIRE(pair.both_established());
  CHECK_FALSE(pair.server->peer_certificate_present());
  CHECK(pair.server->peer_common_name().empty());
}

TEST_CASE("ALPN: a server accepting only postgresql") {
  TestPki pki;
  SUBCASE("agrees with a client offering postgresql") {
    TlsPair pair = with_alpn(pki, "postgresql");
    REQUIRE(pair.both_established());
    CHECK(pair.server->alpn() == "postgresql");
    CHECK(pair.client->alpn() == "postgresql");
  }
  SUBCASE("refuses a client offering only http/1.1") {
    TlsPair pair = with_alpn(pki, "http/1.1");
    CHECK(pair.server_status == Status::kFailed);
    CHECK(pair.client_status == Status::kFailed);
    CHECK(!pair.client->established());
    CHECK(contains(pair.client->error(), "no application protocol"));
  }
  SUBCASE("serves a client offering none, with no protocol agreed") {
    TlsPair pair = with_alpn(pki, "");
    REQUIRE(pair.both_established());
    CHECK(pair.server->alpn().empty());
    CHECK(pair.client->alpn().empty());
  }
}

TEST_CASE("protocol versions: no overlap fails, secure negotiates TLS 1.3") {
  TestPki pki;
  SUBCASE("server tlsv1.3, client tlsv1.2") {
    TlsSettings server = server_settings(pki);
    server.protocols = "tlsv1.3";
    TlsSettings client = client_settings(pki);
    client.protocols = "tlsv1.2";
    TlsPair pair(make_context(server), make_context(client));
    pair.handshake();
    CHECK(pair.server_status == Status::kFailed);
    CHECK(pair.client_status == Status::kFailed);
    CHECK(contains(pair.server->error(), "unsupported protocol"));
  }
  SUBCASE("both secure") {
    TlsPair pair(make_context(server_settings(pki)), make_context(client_settings(pki)));
    pair.handshake();
    REQUIRE(pair.both_established());
    CHECK(pair.server->description().rfind("TLSv1.3/", 0) == 0);
  }
  SUBCASE("server tlsv1.2,tlsv1.3, client tlsv1.2") {
    TlsSettings client = client_settings(pki);
    client.protocols = "tlsv1.2";
    TlsPair pair(make_context(server_settings(pki)), make_context(client));
    pair.handshake();
    REQUIRE(pair.both_established());
    CHECK(pair.client->description().rfind("TLSv1.2/", 0) == 0);
  }
}

// sslmode=require towards a PostgreSQL that demands a client certificate: OpenSSL still records
// the outcome of the chain check it was told to skip, which is no reason for the failure.
TEST_CASE("a client that does not verify reports the server's refusal, not a check it skipped") {
  TestPki pki;
  TlsSettings client = client_settings(pki, TlsVerify::kNone);
  client.ca_file.clear();
  TlsPair pair(make_context(verify_ca_server(pki)), make_context(client));
  pair.handshake();
  CHECK(pair.client_status == Status::kFailed);
  CAPTURE(pair.client->error());
  CHECK(contains(pair.client->error(), "certificate required"));
  CHECK_FALSE(contains(pair.client->error(), "certificate verify failed"));
}

// libpq refuses verify-full without a host name; checking only the chain would pass any
// certificate from the CA.
TEST_CASE("verify-full without a host name to match refuses to connect") {
  TestPki pki;
  pooler::testing::RecordingObserver observer;
  TlsPair pair(make_context(server_settings(pki)),
               make_context(client_settings(pki, TlsVerify::kChainAndName), &observer), "");
  pair.handshake();
  CHECK(pair.client_status == Status::kFailed);
  CHECK(!pair.client->established());
  CHECK(!pair.server->established());
  CHECK(contains(pair.client->error(), "host name"));
  CHECK(observer.count(pooler::net::TlsRole::kClient, false) == 1);
  CHECK(pair.client->send(pooler::util::as_bytes("x"), pair.client_io) == Status::kFailed);

  TlsPair verify_ca(make_context(server_settings(pki)),
                    make_context(client_settings(pki, TlsVerify::kChain)), "");
  verify_ca.handshake();
  CHECK(verify_ca.both_established());  // no name to match, none needed
}
