// TlsSession: one TLS connection's state over memory, no socket: ciphertext comes in through
// receive() and goes out through the Io's tls_output(), plaintext the other way. Stream drives
// it; the unit tests drive two of them against each other. Handshake, renegotiation refusal,
// close_notify and partial records are all handled here, for both sides of the pooler.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "pooler/net/tls_context.hpp"
#include "pooler/util/bytes.hpp"

typedef struct ssl_st SSL;

namespace pooler::net {

class TlsSession {
 public:
  // Where a session's output goes; calls happen only inside receive(), send() and shutdown().
  class Io {
   public:
    virtual ~Io() = default;
    virtual void tls_output(util::Bytes ciphertext) = 0;
    // Plaintext for the owner. False when the owner closed meanwhile: stop delivering.
    virtual bool tls_plaintext(util::Bytes plaintext) = 0;
    // The handshake has just completed; plaintext sent before it is on its way now.
    virtual void tls_established() = 0;
  };

  enum class Status {
    kOpen,
    kPeerClosed,  // close_notify received
    kFailed,      // handshake or record error: error() says why
  };

  // `peer_name` (client role): the host connected to, sent as SNI and, under
  // TlsVerify::kChainAndName, matched against the certificate's names.
  TlsSession(std::shared_ptr<const TlsContext> context, const std::string& peer_name = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // A client sends its ClientHello now; a server waits for one.
  Status start(Io& io);
  Status receive(util::Bytes ciphertext, Io& io);
  // Plaintext to encrypt; held until the handshake is done.
  Status send(util::Bytes plaintext, Io& io);
  // Queues close_notify (once established).
  void shutdown(Io& io);

  bool established() const { return established_; }
  TlsRole role() const { return context_->settings().role; }
  const std::string& error() const { return error_; }

  // PgBouncer's SHOW column: "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519".
  std::string description() const;
  // RFC 5929 tls-server-end-point: the hash of the server's certificate (ours as server, the
  // peer's as client), for SCRAM channel binding. Empty if there is none.
  std::string server_end_point() const;
  // The peer presented a certificate (that verified, where the context demands verification).
  bool peer_certificate_present() const;
  // The peer certificate's subject common name; empty if none.
  std::string peer_common_name() const;
  // The ALPN protocol both ends agreed on; empty if none.
  std::string alpn() const;

 private:
  Status advance(Io& io);
  Status flush_held(Io& io);
  // Records why (the first reason stands) from SSL_get_error()'s `ssl_error` and the queue.
  Status failed(int ssl_error);
  void finish_handshake(bool ok);

  std::shared_ptr<const TlsContext> context_;
  SSL* ssl_ = nullptr;
  Io* io_ = nullptr;  // the caller's Io while a call runs, for the BIO callbacks
  util::Bytes input_;  // ciphertext not yet taken by OpenSSL, during receive()
  std::string held_;   // plaintext sent before the handshake finished
  std::string error_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool established_ = false;
  bool handshake_reported_ = false;
  bool closed_ = false;

  friend struct TlsBio;
};

}  // namespace pooler::net
