// Test certificates with OpenSSL's X509 API. Failures throw: a test that cannot make its
// certificates should stop there, with OpenSSL's reason.
#include "test_certificates.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace pooler::testing {

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

void check(bool ok, const char* what) {
  if (ok) {
    return;
  }
  char reason[256] = "no OpenSSL error queued";
  if (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, reason, sizeof reason);
  }
  ERR_clear_error();
  throw std::runtime_error(std::string("test certificate: ") + what + ": " + reason);
}

Key new_key() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

// Serial numbers need only differ between the certificates of one run.
long next_serial() {
  static std::atomic<long> serial{1000};
  return ++serial;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "certificate extension");
  int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, "adding an extension");
}

// A certificate for `key` named `common_name`, not yet signed nor extended.
Cert new_certificate(EVP_PKEY* key, const std::string& common_name, int from_days, int until_days) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), next_serial()) == 1, "serial");
  constexpr long kDay = 24 * 60 * 60;
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), from_days * kDay) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), until_days * kDay) != nullptr, "notAfter");
  check(X509_set_pubkey(cert.get(), key) == 1, "public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) == 1,
        "common name");
  return cert;
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return out;
}

IssuedCertificate encode(X509* cert, EVP_PKEY* key) {
  IssuedCertificate out;
  BIO* bio = BIO_new(BIO_s_mem());
  check(bio != nullptr && PEM_write_bio_X509(bio, cert) == 1, "certificate PEM");
  out.cert_pem = drain(bio);
  bio = BIO_new(BIO_s_mem());
  check(bio != nullptr &&
            PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "key PEM");
  out.key_pem = drain(bio);
  int length = i2d_X509(cert, nullptr);
  check(length > 0, "certificate DER");
  out.der.resize(static_cast<std::size_t>(length));
  auto* p = reinterpret_cast<unsigned char*>(out.der.data());
  check(i2d_X509(cert, &p) == length, "certificate DER");
  return out;
}

}  // namespace

struct TestCa::Impl {
  Key key;
  Cert cert;
  IssuedCertificate issued;
};

TestCa::TestCa(const std::string& common_name) : impl_(std::make_unique<Impl>()) {
  impl_->key = new_key();
  impl_->cert = new_certificate(impl_->key.get(), common_name, -1, 365);
  X509* cert = impl_->cert.get();
  check(X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1, "issuer");
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  check(X509_sign(cert, impl_->key.get(), EVP_sha256()) > 0, "signing the CA");
  impl_->issued = encode(cert, impl_->key.get());
}

TestCa::~TestCa() = default;

const IssuedCertificate& TestCa::certificate() const {
  return impl_->issued;
}

IssuedCertificate TestCa::issue(const LeafSpec& spec) const {
  Key key = new_key();
  Cert cert =
      new_certificate(key.get(), spec.common_name, spec.valid_from_days, spec.valid_until_days);
  X509* ca = impl_->cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca)) == 1, "issuer");
  add_extension(cert.get(), ca, NID_basic_constraints, "CA:FALSE");
  add_extension(cert.get(), ca, NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), ca, NID_ext_key_usage, spec.client ? "clientAuth" : "serverAuth");
  add_extension(cert.get(), ca, NID_authority_key_identifier, "keyid");
  std::string names;
  for (const std::string& dns : spec.dns_names) {
    names += (names.empty() ? "DNS:" : ",DNS:") + dns;
  }
  for (const std::string& ip : spec.ip_addresses) {
    names += (names.empty() ? "IP:" : ",IP:") + ip;
  }
  if (!names.empty()) {
    add_extension(cert.get(), ca, NID_subject_alt_name, names);
  }
  check(X509_sign(cert.get(), impl_->key.get(), EVP_sha256()) > 0, "signing a leaf");
  return encode(cert.get(), key.get());
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "pooler-tls-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& content, mode_t mode) const {
  std::string path = path_ + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  bool ok = fd >= 0 && ::fchmod(fd, mode) == 0 &&
            ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  int saved = errno;
  if (fd >= 0) {
    ::close(fd);
  }
  if (!ok) {
    throw std::runtime_error("writing " + path + ": " + std::strerror(saved));
  }
  return path;
}

TestPki::TestPki() {
  ca_file = dir.write("ca.crt", ca.certificate().cert_pem);
  other_ca_file = dir.write("other-ca.crt", other_ca.certificate().cert_pem);
  LeafSpec spec;
  spec.common_name = "pooler test server";
  spec.dns_names = {"localhost", "db.pooler.test"};
  spec.ip_addresses = {"127.0.0.1", "::1"};
  server = write("server", ca.issue(spec));
  stranger = write("stranger", other_ca.issue(spec));
  LeafSpec old = spec;
  old.valid_from_days = -30;
  old.valid_until_days = -1;
  expired = write("expired", ca.issue(old));
  LeafSpec user;
  user.common_name = kClientName;
  user.client = true;
  client = write("client", ca.issue(user));
}

CertificateFiles TestPki::write(const std::string& stem, IssuedCertificate issued) const {
  CertificateFiles files;
  files.cert_file = dir.write(stem + ".crt", issued.cert_pem);
  files.key_file = dir.write(stem + ".key", issued.key_pem, 0600);
  files.issued = std::move(issued);
  return files;
}

}  // namespace pooler::testing
