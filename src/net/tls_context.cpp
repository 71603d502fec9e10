// TlsContext: settings to SSL_CTX. The names (protocols, cipher presets) follow PgBouncer's
// libusual TLS layer so that a pgbouncer.ini means the same here.
#include "pooler/net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <cstring>
#include <vector>

namespace pooler::net {

namespace {

using util::Error;

// The first queued OpenSSL error as text (then the queue is emptied), for messages that say why.
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  std::string text = "unknown error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(code);
    text = reason != nullptr ? reason : buf;
  }
  ERR_clear_error();
  return text;
}

struct ProtocolVersion {
  const char* name;
  int version;
};

constexpr ProtocolVersion kVersions[] = {
    {"tlsv1.0", TLS1_VERSION},
    {"tlsv1.1", TLS1_1_VERSION},
    {"tlsv1.2", TLS1_2_VERSION},
    {"tlsv1.3", TLS1_3_VERSION},
};

// The protocols a PgBouncer-style list allows ("secure", "tlsv1.2,tlsv1.3", "all,!tlsv1.0"),
// as a bit per entry of kVersions.
util::Result<unsigned> parse_protocols(const std::string& text) {
  unsigned allowed = 0;
  std::string item;
  auto apply = [&](std::string name) -> bool {
    if (name.empty()) return true;
    bool negate = name[0] == '!';
    if (negate) name.erase(0, 1);
    // As libusual: a negation with nothing allowed yet ("!tlsv1.0") takes from all of them.
    if (negate && allowed == 0) allowed = 0b1111;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    unsigned bits = 0;
    if (name == "secure" || name == "default") {
      bits = 0b1100;
    } else if (name == "all" || name == "legacy") {
      bits = 0b1111;
    } else {
      for (std::size_t i = 0; i < std::size(kVersions); ++i) {
        if (name == kVersions[i].name) bits = 1u << i;
      }
      if (bits == 0) return false;
    }
    allowed = negate ? allowed & ~bits : allowed | bits;
    return true;
  };
  for (char c : text + ",") {
    if (c == ',' || c == ':' || c == ' ') {
      if (!apply(item)) return Error{"unknown TLS protocol \"" + item + "\""};
      item.clear();
    } else {
      item += c;
    }
  }
  if (allowed == 0) return Error{"no TLS protocol left in \"" + text + "\""};
  return allowed;
}

// PgBouncer's cipher presets (libusual's lists, names in any case); anything else is an OpenSSL
// cipher list.
std::string cipher_list(const std::string& name) {
  std::string preset;
  for (char c : name) preset += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (preset.empty() || preset == "default" || preset == "secure") {
    return "HIGH+EECDH:HIGH+EDH:!SSLv3:!SHA384:!SHA256:!DSS:!aNULL";
  }
  if (preset == "normal") {
    return "HIGH+EECDH:HIGH+EDH:HIGH+RSA:+SHA384:+SHA256:+SSLv3:+EDH:+RSA:-3DES:3DES+RSA:"
           "!CAMELLIA:!DSS:!aNULL";
  }
  if (preset == "fast") {
    return "HIGH+EECDH:HIGH+EDH:HIGH+RSA:+AES256:+SHA256:+SHA384:+SSLv3:+EDH:+RSA:-3DES:"
           "3DES+RSA:!CAMELLIA:!DSS:!aNULL";
  }
  if (preset == "compat" || preset == "legacy") return "HIGH:+3DES:!aNULL";
  if (preset == "insecure" || preset == "all") return "ALL:!aNULL:!eNULL";
  return name;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* wanted = static_cast<const std::string*>(arg);
  for (unsigned int i = 0; i < inlen;) {
    unsigned int length = in[i];
    if (i + 1 + length > inlen) break;
    if (length == wanted->size() && std::memcmp(in + i + 1, wanted->data(), length) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  // As PostgreSQL: a client that offers ALPN but not ours is refused (no_application_protocol).
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

util::Result<bool> configure(SSL_CTX* ctx, const TlsSettings& s) {
  auto protocols = parse_protocols(s.protocols);
  if (!protocols) return Error{protocols.error()};
  int lowest = 0;
  int highest = 0;
  for (std::size_t i = 0; i < std::size(kVersions); ++i) {
    if ((*protocols & (1u << i)) == 0) continue;
    if (lowest == 0) lowest = kVersions[i].version;
    highest = kVersions[i].version;
  }
  SSL_CTX_set_min_proto_version(ctx, lowest);
  SSL_CTX_set_max_proto_version(ctx, highest);
  // A gap in the list ("tlsv1.0,tlsv1.2") is closed with OpenSSL's per-version switches.
  constexpr long kNoVersion[] = {SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2,
                                 SSL_OP_NO_TLSv1_3};
  for (std::size_t i = 0; i < std::size(kVersions); ++i) {
    if ((*protocols & (1u << i)) == 0) SSL_CTX_set_options(ctx, kNoVersion[i]);
  }
  // TLS 1.0 and 1.1 need OpenSSL 3's security level 0 to negotiate at all.
  if (lowest < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);
  // Renegotiation is refused (TLS 1.2; 1.3 has none): it only ever served attacks here.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their 34 KB of record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, cipher_list(s.ciphers).c_str()) != 1) {
    return Error{"invalid TLS ciphers \"" + s.ciphers + "\": " + openssl_error()};
  }
  if (!s.tls13_ciphers.empty() && SSL_CTX_set_ciphersuites(ctx, s.tls13_ciphers.c_str()) != 1) {
    return Error{"invalid TLS 1.3 ciphers \"" + s.tls13_ciphers + "\": " + openssl_error()};
  }
  if (!s.ecdhcurve.empty() && s.ecdhcurve != "auto" && s.ecdhcurve != "none" &&
      SSL_CTX_set1_groups_list(ctx, s.ecdhcurve.c_str()) != 1) {
    return Error{"invalid TLS ECDH curve \"" + s.ecdhcurve + "\": " + openssl_error()};
  }
  if (s.dheparams != "none") SSL_CTX_set_dh_auto(ctx, 1);

  if (!s.cert_file.empty() || !s.key_file.empty()) {
    if (s.cert_file.empty() || s.key_file.empty()) {
      return Error{"a TLS key file needs a certificate file, and the other way round"};
    }
    auto permissions = check_private_key_permissions(s.key_file);
    if (!permissions) return Error{permissions.error()};
    if (SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) != 1) {
      return Error{"could not load certificate file \"" + s.cert_file + "\": " + openssl_error()};
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Error{"could not load private key file \"" + s.key_file + "\": " + openssl_error()};
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return Error{"private key file \"" + s.key_file + "\" does not match certificate file \"" +
                   s.cert_file + "\""};
    }
  } else if (s.role == TlsRole::kServer) {
    return Error{"TLS for clients needs a key file and a certificate file"};
  }

  if (!s.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, s.ca_file.c_str(), nullptr) != 1) {
      return Error{"could not load CA file \"" + s.ca_file + "\": " + openssl_error()};
    }
    if (s.role == TlsRole::kServer) {
      // Tell clients which CAs their certificate must come from.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
    }
  } else if (s.verify != TlsVerify::kNone) {
    if (s.role == TlsRole::kServer) {
      return Error{"verifying client certificates needs a CA file"};
    }
    SSL_CTX_set_default_verify_paths(ctx);
  }
  if (s.verify != TlsVerify::kNone) {
    int mode = SSL_VERIFY_PEER;
    if (s.role == TlsRole::kServer) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (s.role == TlsRole::kServer) {
    // One context serves many clients; sessions are not resumed across connections (PgBouncer
    // does not either), so the cache would only hold memory.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return true;
}

}  // namespace

util::Result<bool> check_private_key_permissions(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error{"could not access private key file \"" + path + "\": " + std::strerror(errno)};
  }
  if (!S_ISREG(st.st_mode)) return Error{"private key file \"" + path + "\" is not a file"};
  bool root_owned = st.st_uid == 0;
  mode_t forbidden = root_owned ? (S_IWGRP | S_IXGRP | S_IRWXO) : (S_IRWXG | S_IRWXO);
  if ((st.st_mode & forbidden) != 0) {
    return Error{"private key file \"" + path +
                 "\" has group or world access; permissions should be u=rw (0600) or less, or "
                 "u=rw,g=r (0640) or less if owned by root"};
  }
  return true;
}

util::Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsSettings& settings,
                                                             TlsObserver* observer) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(settings.role == TlsRole::kServer ? TLS_server_method()
                                                               : TLS_client_method());
  if (ctx == nullptr) return Error{"could not create a TLS context: " + openssl_error()};
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, settings, observer));
  auto configured = configure(ctx, context->settings_);
  if (!configured) return Error{configured.error()};
  if (!settings.alpn.empty()) {
    if (settings.role == TlsRole::kServer) {
      SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, &context->settings_.alpn);
    } else {
      std::string wire(1, static_cast<char>(settings.alpn.size()));
      wire += settings.alpn;
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size()));
    }
  }
  return context;
}

TlsContext::TlsContext(SSL_CTX* ctx, TlsSettings settings, TlsObserver* observer)
    : ctx_(ctx), settings_(std::move(settings)), observer_(observer) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace pooler::net
