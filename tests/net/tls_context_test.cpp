// TlsContext::create: PgBouncer's protocol and cipher names, and an error for every file or
// setting that cannot work, naming the file and never quoting a key.
#include "pooler/net/tls_context.hpp"

#include <doctest/doctest.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tls_pair.hpp"

namespace {

using pooler::net::TlsContext;
using pooler::net::TlsRole;
using pooler::net::TlsSettings;
using pooler::net::TlsVerify;
using pooler::testing::server_settings;
using pooler::testing::TestPki;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The error create() gives; fails the test if it succeeds.
std::string create_error(const TlsSettings& settings) {
  auto context = TlsContext::create(settings);
  REQUIRE_FALSE(context.ok());
  return context.error();
}

struct VersionRange {
  int lowest;
  int highest;
};

VersionRange versions_of(const std::string& protocols) {
  TestPki pki;
  TlsSettings s = server_settings(pki);
  s.protocols = protocols;
  auto context = TlsContext::create(s);
  REQUIRE_MESSAGE(context.ok(), (context.ok() ? std::string() : context.error()));
  SSL_CTX* ctx = (*context)->raw();
  return {static_cast<int>(SSL_CTX_get_min_proto_version(ctx)),
          static_cast<int>(SSL_CTX_get_max_proto_version(ctx))};
}

}  // namespace

TEST_CASE("protocol lists in PgBouncer's spelling set the versions a context allows") {
  auto secure = versions_of("secure");
  CHECK(secure.lowest == TLS1_2_VERSION);
  CHECK(secure.highest == TLS1_3_VERSION);
  auto listed = versions_of("tlsv1.2,tlsv1.3");
  CHECK(listed.lowest == TLS1_2_VERSION);
  CHECK(listed.highest == TLS1_3_VERSION);
  auto all = versions_of("all");
  CHECK(all.lowest == TLS1_VERSION);
  CHECK(all.highest == TLS1_3_VERSION);
  auto only = versions_of("TLSv1.3");
  CHECK(only.lowest == TLS1_3_VERSION);
  CHECK(only.highest == TLS1_3_VERSION);
  auto negated = versions_of("all,!tlsv1.0,!tlsv1.1");
  CHECK(negated.lowest == TLS1_2_VERSION);
  CHECK(negated.highest == TLS1_3_VERSION);
  auto colons = versions_of("tlsv1.1:tlsv1.2");
  CHECK(colons.lowest == TLS1_1_VERSION);
  CHECK(colons.highest == TLS1_2_VERSION);
}

// libusual's tls_config_parse_protocols: a negation with nothing allowed yet starts from all.
TEST_CASE("a protocol list that starts with a negation takes it from all, as PgBouncer does") {
  auto one = versions_of("!tlsv1.0");
  CHECK(one.lowest == TLS1_1_VERSION);
  CHECK(one.highest == TLS1_3_VERSION);
  auto two = versions_of("!tlsv1.0,!tlsv1.1");
  CHECK(two.lowest == TLS1_2_VERSION);
  CHECK(two.highest == TLS1_3_VERSION);
  auto top = versions_of("!tlsv1.3");
  CHECK(top.lowest == TLS1_VERSION);
  CHECK(top.highest == TLS1_2_VERSION);
}

TEST_CASE("an unknown protocol name is an error that names it") {
  TestPki pki;
  TlsSettings s = server_settings(pki);
  s.protocols = "tlsv1.2,sslv3";
  std::string error = create_error(s);
  CHECK(contains(error, "unknown TLS protocol"));
  CHECK(contains(error, "\"sslv3\""));
  s.protocols = "tlsv1.2,!tlsv9";
  CHECK(contains(create_error(s), "tlsv9"));
}

TEST_CASE("a protocol list that leaves nothing is an error") {
  TestPki pki;
  TlsSettings s = server_settings(pki);
  s.protocols = "tlsv1.2,!tlsv1.2";
  CHECK(contains(create_error(s), "no TLS protocol left"));
}

TEST_CASE("a cipher list OpenSSL cannot use is an error that quotes it") {
  TestPki pki;
  TlsSettings s = server_settings(pki);
  s.ciphers = "NOT-A-CIPHER";
  std::string error = create_error(s);
  CHECK(contains(error, "invalid TLS ciphers"));
  CHECK(contains(error, "NOT-A-CIPHER"));
  s = server_settings(pki);
  s.tls13_ciphers = "TLS_NOT_A_SUITE";
  CHECK(contains(create_error(s), "TLS_NOT_A_SUITE"));
  s = server_settings(pki);
  s.ecdhcurve = "no-such-curve";
  CHECK(contains(create_error(s), "no-such-curve"));
  for (const char* preset : {"default", "secure", "compat", "normal", "legacy", "insecure"}) {
    CAPTURE(preset);
    s = server_settings(pki);
    s.ciphers = preset;
    CHECK(TlsContext::create(s).ok());
  }
}

TEST_CASE("a missing certificate, key or CA file is an error that names the file") {
  TestPki pki;
  const std::string missing = pki.dir.path() + "/missing.pem";
  TlsSettings s = server_settings(pki);
  s.cert_file = missing;
  std::string error = create_error(s);
  CHECK(contains(error, "certificate file"));
  CHECK(contains(error, missing));

  s = server_settings(pki);
  s.key_file = missing;
  error = create_error(s);
  CHECK(contains(error, "private key file"));
  CHECK(contains(error, missing));

  s = server_settings(pki);
  s.ca_file = missing;
  error = create_error(s);
  CHECK(contains(error, "CA file"));
  CHECK(contains(error, missing));
}

TEST_CASE("a key that does not belong to the certificate is an error naming the key file") {
  TestPki pki;
  TlsSettings s = server_settings(pki);
  s.key_file = pki.client.key_file;
  std::string error = create_error(s);
  CHECK(contains(error, pki.client.key_file));
}

TEST_CASE("a private key readable by group or world is refused, naming the file") {
  TestPki pki;
  const std::string& key = pki.server.key_file;
  CHECK(pooler::net::check_private_key_permissions(key).ok());  // written 0600

  REQUIRE(::chmod(key.c_str(), 0644) == 0);
  auto checked = pooler::net::check_private_key_permissions(key);
  REQUIRE_FALSE(checked.ok());
  CHECK(contains(checked.error(), key));
  CHECK(contains(checked.error(), "group or world access"));
  // create() applies the same check before it reads the key.
  std::string error = create_error(server_settings(pki));
  CHECK(contains(error, key));
  CHECK(contains(error, "group or world access"));

  // PostgreSQL's exception: group-readable is fine when root owns the file.
  REQUIRE(::chmod(key.c_str(), 0640) == 0);
  struct stat st {};
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK(pooler::net::check_private_key_permissions(key).ok() == (st.st_uid == 0));
  REQUIRE(::chmod(key.c_str(), 0604) == 0);
  CHECK_FALSE(pooler::net::check_private_key_permissions(key).ok());
}

TEST_CASE("a key path that is a directory is refused") {
  TestPki pki;
  auto checked = pooler::net::check_private_key_permissions(pki.dir.path());
  REQUIRE_FALSE(checked.ok());
  CHECK(contains(checked.error(), "is not a file"));
}

TEST_CASE("a server context needs both a key and a certificate; a client context neither") {
  TestPki pki;
  TlsSettings s;
  s.role = TlsRole::kServer;
  CHECK(contains(create_error(s), "needs a key file and a certificate file"));
  s.cert_file = pki.server.cert_file;
  CHECK(contains(create_error(s), "key file needs a certificate file"));
  s.cert_file.clear();
  s.key_file = pki.server.key_file;
  CHECK(contains(create_error(s), "key file needs a certificate file"));

  TlsSettings client;
  client.role = TlsRole::kClient;
  CHECK(TlsContext::create(client).ok());
  client.cert_file = pki.client.cert_file;
  create_error(client);  // a certificate without its key
}

TEST_CASE("a server verifying client certificates needs a CA file") {
  TestPki pki;
  TlsSettings s = server_settings(pki);
  s.verify = TlsVerify::kChain;
  CHECK(contains(create_error(s), "needs a CA file"));
  s.ca_file = pki.ca_file;
  CHECK(TlsContext::create(s).ok());
}

TEST_CASE("no error quotes key material, whatever file a key lands in") {
  TestPki pki;
  const std::string& key = pki.server.key_file;
  std::vector<TlsSettings> wrong;
  TlsSettings s = server_settings(pki);
  s.cert_file = key;  // the key where the certificate should be
  wrong.push_back(s);
  s = server_settings(pki);
  s.ca_file = key;  // the key where the CA should be
  wrong.push_back(s);
  s = server_settings(pki);
  s.key_file = pki.client.key_file;  // another certificate's key
  wrong.push_back(s);
  s = server_settings(pki);
  s.key_file = pki.dir.write("broken.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n", 0600);
  wrong.push_back(s);
  // A line of the key's base64 body, which no message may contain either.
  const std::string& pem = pki.server.issued.key_pem;
  const std::string body_line = pem.substr(pem.find('\n') + 1, 40);
  for (const TlsSettings& settings : wrong) {
    std::string error = create_error(settings);
    CAPTURE(error);
    CHECK_FALSE(contains(error, "PRIVATE KEY"));
    CHECK_FALSE(contains(error, body_line));
  }
}
