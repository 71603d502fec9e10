// TlsContext: one OpenSSL SSL_CTX built from settings (key, certificate, CA, protocols, ciphers,
// curves), for one side of the pooler. Immutable once built: a reload builds a new one and the
// connections already open keep theirs. Knows nothing of PostgreSQL.
#pragma once

#include <memory>
#include <string>

#include "pooler/util/clock.hpp"
#include "pooler/util/result.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace pooler::net {

// Which end of the handshake the pooler is.
enum class TlsRole { kServer, kClient };

// How hard the peer's certificate is checked.
enum class TlsVerify {
  kNone,      // no check (a server context still asks for no certificate)
  kChain,     // the chain must lead to the CA (a server context demands a client certificate)
  kChainAndName,  // the chain, and the name the caller connects to (client contexts only)
};

struct TlsSettings {
  TlsRole role = TlsRole::kServer;
  TlsVerify verify = TlsVerify::kNone;
  std::string key_file;   // required for kServer; optional client certificate for kClient
  std::string cert_file;
  std::string ca_file;    // empty: the system's trust store (kClient), none (kServer)
  std::string protocols = "secure";  // PgBouncer's spelling: secure, all, legacy, tlsv1.2, ...
  std::string ciphers = "default";   // default/secure, compat, legacy, insecure, or OpenSSL's
  std::string tls13_ciphers;         // empty: OpenSSL's default suites
  std::string ecdhcurve = "auto";
  std::string dheparams = "auto";
  // The ALPN protocol offered (kClient) or the only one accepted (kServer); empty: none.
  std::string alpn;
};

// What TLS connections report, for metrics; implemented where counters live (app).
class TlsObserver {
 public:
  virtual ~TlsObserver() = default;
  virtual void on_handshake(TlsRole role, bool ok, util::Duration took) = 0;
  // A connection whose handshake succeeded has closed.
  virtual void on_tls_closed(TlsRole role) = 0;
};

class TlsContext {
 public:
  // Loads every file the settings name; an error says which file and why, never its content.
  static util::Result<std::shared_ptr<TlsContext>> create(const TlsSettings& settings,
                                                          TlsObserver* observer = nullptr);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const TlsSettings& settings() const { return settings_; }
  TlsObserver* observer() const { return observer_; }
  SSL_CTX* raw() const { return ctx_; }

 private:
  TlsContext(SSL_CTX* ctx, TlsSettings settings, TlsObserver* observer);

  SSL_CTX* ctx_;
  TlsSettings settings_;
  TlsObserver* observer_;
};

// PostgreSQL's rule for private keys, which the pooler applies too: no access for others, and
// none for the group unless root owns the file (0640). The error names the file.
util::Result<bool> check_private_key_permissions(const std::string& path);

}  // namespace pooler::net
