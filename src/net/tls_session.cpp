// TlsSession on OpenSSL with a BIO of our own: OpenSSL reads ciphertext straight from the
// caller's buffer and writes records straight to the Io, so the only copies of application
// data are the ones encryption itself makes.
#include "pooler/net/tls_session.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <cstdlib>
#include <cstring>

namespace pooler::net {

namespace {

// Decrypted bytes are gathered here and handed to the owner in one call per receive().
// One per thread (a loop never runs two receive() calls at once), on the heap: a thread_local
// array would be carved out of every thread's stack, civetweb's small ones included.
constexpr std::size_t kPlaintextBuffer = 64 * 1024;
thread_local std::unique_ptr<char[]> plaintext_storage;
thread_local bool plaintext_buffer_in_use = false;

char* plaintext_buffer() {
  if (!plaintext_storage) plaintext_storage = std::make_unique<char[]>(kPlaintextBuffer);
  return plaintext_storage.get();
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string error_queue_text() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    if (!text.empty()) text += "; ";
    text += reason != nullptr ? reason : "error " + std::to_string(code);
  }
  return text;
}

}  // namespace

// The BIO between OpenSSL and the session: reads serve TlsSession::input_, writes go to the
// Io of the call in progress.
struct TlsBio {
  static BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pooler");
      BIO_meth_set_write(made, &write);
      BIO_meth_set_read(made, &read);
      BIO_meth_set_ctrl(made, &ctrl);
      BIO_meth_set_create(made, [](BIO* bio) {
        BIO_set_init(bio, 1);
        return 1;
      });
      return made;
    }();
    return m;
  }

  static TlsSession* session(BIO* bio) { return static_cast<TlsSession*>(BIO_get_data(bio)); }

  static int write(BIO* bio, const char* data, int length) {
    BIO_clear_retry_flags(bio);
    TlsSession* s = session(bio);
    if (s->io_ == nullptr || length <= 0) return 0;
    s->io_->tls_output({reinterpret_cast<const std::uint8_t*>(data),
                        static_cast<std::size_t>(length)});
    return length;
  }

  static int read(BIO* bio, char* out, int length) {
    BIO_clear_retry_flags(bio);
    TlsSession* s = session(bio);
    if (s->input_.empty()) {
      BIO_set_retry_read(bio);
      return -1;
    }
    std::size_t n = std::min(s->input_.size(), static_cast<std::size_t>(length));
    std::memcpy(out, s->input_.data(), n);
    s->input_ = s->input_.subspan(n);
    return static_cast<int>(n);
  }

  static long ctrl(BIO*, int command, long, void*) {
    return command == BIO_CTRL_FLUSH ? 1 : 0;
  }
};

TlsSession::TlsSession(std::shared_ptr<const TlsContext> context, const std::string& peer_name)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->raw());
  if (ssl_ == nullptr) std::abort();  // allocation failure: nothing sensible to carry on with
  // Two BIOs, one per direction: a write OpenSSL makes while reading must not clear the read
  // side's retry flag (it would then take an empty input for the end of the stream).
  BIO* in = BIO_new(TlsBio::method());
  BIO* out = BIO_new(TlsBio::method());
  BIO_set_data(in, this);
  BIO_set_data(out, this);
  SSL_set_bio(ssl_, in, out);
  const TlsSettings& settings = context_->settings();
  if (settings.role == TlsRole::kServer) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (peer_name.empty()) {
    // As libpq: verify-full with no name to match would accept any certificate the CA signed.
    if (settings.verify == TlsVerify::kChainAndName) {
      error_ = "no host name to verify the server certificate against";
      closed_ = true;  // start() reports it
    }
    return;
  }
  bool ip = is_ip_literal(peer_name);
  // Servers behind a proxy or on a managed service pick their certificate by SNI; an address
  // is never sent as SNI (RFC 6066).
  if (!ip) SSL_set_tlsext_host_name(ssl_, peer_name.c_str());
  if (settings.verify == TlsVerify::kChainAndName) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    // libpq's rules: a wildcard only as the whole leftmost label.
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, peer_name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, peer_name.c_str(), 0);
    }
  }
}

TlsSession::~TlsSession() {
  if (established_) {
    if (TlsObserver* observer = context_->observer()) observer->on_tls_closed(role());
  } else {
    finish_handshake(false);  // given up half way: a failed handshake
  }
  SSL_free(ssl_);
}

void TlsSession::finish_handshake(bool ok) {
  if (handshake_reported_) return;
  handshake_reported_ = true;
  if (TlsObserver* observer = context_->observer()) {
    observer->on_handshake(role(), ok, std::chrono::duration_cast<util::Duration>(
                                           std::chrono::steady_clock::now() - started_));
  }
}

TlsSession::Status TlsSession::start(Io& io) {
  if (closed_) {
    finish_handshake(false);
    return Status::kFailed;
  }
  if (role() == TlsRole::kServer) return Status::kOpen;
  return advance(io);
}

TlsSession::Status TlsSession::receive(util::Bytes ciphertext, Io& io) {
  if (closed_) return Status::kFailed;
  input_ = ciphertext;
  Status status = advance(io);
  input_ = {};
  return status;
}

TlsSession::Status TlsSession::failed(int code) {
  // The first reason stands: a write the owner made while plaintext was delivered may have
  // failed already and taken the queued errors with it.
  if (closed_ && !error_.empty()) return Status::kFailed;
  std::string queued = error_queue_text();
  // OpenSSL records the chain check's outcome even when told not to act on it (TlsVerify::kNone):
  // then it is never why the connection failed.
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK && context_->settings().verify != TlsVerify::kNone) {
    error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  } else if (!queued.empty()) {
    error_ = queued;
  } else if (code == SSL_ERROR_SYSCALL || code == SSL_ERROR_ZERO_RETURN) {
    error_ = "unexpected end of TLS stream";
  } else {
    error_ = "TLS error " + std::to_string(code);
  }
  closed_ = true;
  if (!established_) finish_handshake(false);
  return Status::kFailed;
}

TlsSession::Status TlsSession::advance(Io& io) {
  io_ = &io;
  struct Reset {
    TlsSession* s;
    ~Reset() { s->io_ = nullptr; }
  } reset{this};
  if (!established_) {
    // SSL_get_error() reads the thread's whole error queue: whatever another OpenSSL user left
    // there would pass for this call's failure. So it is emptied before each handshake step and
    // read (writes never ask to be retried with this BIO; a read's reason must outlive them).
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      int code = SSL_get_error(ssl_, rc);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return Status::kOpen;
      return failed(code);
    }
    established_ = true;
    finish_handshake(true);
    io.tls_established();
    if (closed_) return Status::kFailed;
    Status held = flush_held(io);
    if (held != Status::kOpen) return held;
  }
  if (plaintext_buffer_in_use) std::abort();  // a second receive() inside a delivery
  plaintext_buffer_in_use = true;
  struct Release {
    ~Release() { plaintext_buffer_in_use = false; }
  } release;
  char* buffer = plaintext_buffer();
  std::size_t filled = 0;
  for (;;) {
    std::size_t got = 0;
    ERR_clear_error();  // the owner may have used OpenSSL during the last delivery
    int rc = SSL_read_ex(ssl_, buffer + filled, kPlaintextBuffer - filled, &got);
    // Asked now: the owner may write (another SSL call) while the plaintext is delivered.
    int code = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
    if (rc == 1) {
      filled += got;
      if (filled < kPlaintextBuffer) continue;
    }
    if (filled > 0) {
      bool more = io.tls_plaintext({reinterpret_cast<const std::uint8_t*>(buffer), filled});
      filled = 0;
      if (!more) return Status::kOpen;
    }
    if (rc == 1) continue;
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return Status::kOpen;
    if (code == SSL_ERROR_ZERO_RETURN) {
      closed_ = true;
      return Status::kPeerClosed;
    }
    return failed(code);
  }
}

TlsSession::Status TlsSession::flush_held(Io& io) {
  if (held_.empty()) return Status::kOpen;
  std::string held;
  held.swap(held_);
  return send(util::as_bytes(held), io);
}

TlsSession::Status TlsSession::send(util::Bytes plaintext, Io& io) {
  if (closed_) return Status::kFailed;
  if (plaintext.empty()) return Status::kOpen;
  if (!established_) {
    held_.append(reinterpret_cast<const char*>(plaintext.data()), plaintext.size());
    return Status::kOpen;
  }
  Io* outer = io_;
  io_ = &io;
  std::size_t written = 0;
  // Without partial writes OpenSSL takes everything in one call, a record per 16 KB.
  int rc = SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written);
  io_ = outer;
  if (rc != 1) return failed(SSL_get_error(ssl_, rc));
  return Status::kOpen;
}

void TlsSession::shutdown(Io& io) {
  if (!established_ || closed_) return;
  Io* outer = io_;
  io_ = &io;
  SSL_shutdown(ssl_);
  io_ = outer;
  ERR_clear_error();
  closed_ = true;
}

std::string TlsSession::description() const {
  if (!established_) return {};
  std::string text = SSL_get_version(ssl_);
  text += '/';
  text += SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
  int group = SSL_get_negotiated_group(ssl_);
  if (group != 0 && group != NID_undef) {
    const char* name = OBJ_nid2sn(group);
    if (name != nullptr) {
      text += std::strncmp(name, "ffdhe", 5) == 0 ? "/DH=" : "/ECDH=";
      text += name;
    }
  }
  return text;
}

std::string TlsSession::server_end_point() const {
  if (!established_) return {};
  X509* cert = role() == TlsRole::kServer ? SSL_get_certificate(ssl_)
                                          : SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  std::string out;
  int digest_nid = NID_undef;
  // RFC 5929: the certificate's own signature hash, SHA-256 when that is MD5 or SHA-1.
  if (X509_get_signature_info(cert, &digest_nid, nullptr, nullptr, nullptr) == 1) {
    if (digest_nid == NID_md5 || digest_nid == NID_sha1) digest_nid = NID_sha256;
    if (const EVP_MD* md = EVP_get_digestbynid(digest_nid)) {
      unsigned char hash[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      if (X509_digest(cert, md, hash, &length) == 1) {
        out.assign(reinterpret_cast<const char*>(hash), length);
      }
    }
  }
  if (role() == TlsRole::kClient) X509_free(cert);
  return out;
}

bool TlsSession::peer_certificate_present() const {
  if (!established_) return false;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  return cert != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

std::string TlsSession::peer_common_name() const {
  if (!peer_certificate_present()) return {};
  X509_NAME* subject = X509_get_subject_name(SSL_get0_peer_certificate(ssl_));
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return {};
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  // A name with an embedded NUL would compare equal to a shorter user name: refuse it.
  if (name.find('\0') != std::string::npos) return {};
  return name;
}

std::string TlsSession::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), length);
}

}  // namespace pooler::net
