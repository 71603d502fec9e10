// Certificates made at test time with OpenSSL's API (EC P-256 keys, so it is fast), written as
// PEM into a fresh temporary directory that goes away with its owner: no key is ever committed.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace pooler::testing {

// A certificate and its private key as PEM, and the certificate's DER (what RFC 5929 hashes).
struct IssuedCertificate {
  std::string cert_pem;
  std::string key_pem;
  std::string der;
};

struct LeafSpec {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, as text
  // Validity, in days from now: an expired certificate ends before today.
  int valid_from_days = -1;
  int valid_until_days = 30;
  bool client = false;  // extendedKeyUsage clientAuth instead of serverAuth
};

// A self-signed CA whose leaves are signed with ECDSA and SHA-256.
class TestCa {
 public:
  explicit TestCa(const std::string& common_name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const IssuedCertificate& certificate() const;
  IssuedCertificate issue(const LeafSpec& spec) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A directory made by mkdtemp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `name` with exactly `mode` (whatever the umask) and returns its path.
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0644) const;

 private:
  std::string path_;
};

// A certificate and key on disk (key mode 0600).
struct CertificateFiles {
  IssuedCertificate issued;
  std::string cert_file;
  std::string key_file;
};

// What the TLS tests use: a CA, and on disk its certificate and leaves for every case.
struct TestPki {
  static constexpr const char* kClientName = "alice";

  TestPki();

  TempDir dir;
  TestCa ca{"pooler test CA"};
  TestCa other_ca{"pooler other CA"};
  std::string ca_file;
  std::string other_ca_file;
  // CN "pooler test server"; subjectAltName localhost, db.pooler.test, 127.0.0.1 and ::1.
  CertificateFiles server;
  CertificateFiles expired;   // the same names, from the CA, expired yesterday
  CertificateFiles stranger;  // the same names, from other_ca
  CertificateFiles client;    // CN kClientName, clientAuth, from the CA

  // Writes `issued` as <stem>.crt and <stem>.key.
  CertificateFiles write(const std::string& stem, IssuedCertificate issued) const;
};

}  // namespace pooler::testing
