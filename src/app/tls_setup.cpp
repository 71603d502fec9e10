// TlsSetup: PgBouncer's client_tls_* and server_tls_* settings as net::TlsSettings, and the
// rebuild-if-changed rule that lets a renewed certificate in without a restart.
#include "tls_setup.hpp"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

namespace pooler::app {

namespace {

using backend::ServerTlsMode;

ServerTlsMode server_mode(const std::string& sslmode) {
  if (sslmode == "allow") return ServerTlsMode::kAllow;
  if (sslmode == "prefer") return ServerTlsMode::kPrefer;
  if (sslmode == "require") return ServerTlsMode::kRequire;
  if (sslmode == "verify-ca") return ServerTlsMode::kVerifyCa;
  if (sslmode == "verify-full") return ServerTlsMode::kVerifyFull;
  return ServerTlsMode::kDisable;
}

std::optional<net::TlsSettings> client_side(const config::Settings& s) {
  if (s.client_tls_sslmode == "disable") return std::nullopt;
  net::TlsSettings t;
  t.role = net::TlsRole::kServer;
  bool verify = s.client_tls_sslmode == "verify-ca" || s.client_tls_sslmode == "verify-full";
  t.verify = verify ? net::TlsVerify::kChain : net::TlsVerify::kNone;
  t.key_file = s.client_tls_key_file;
  t.cert_file = s.client_tls_cert_file;
  t.ca_file = s.client_tls_ca_file;
  t.protocols = s.client_tls_protocols;
  t.ciphers = s.client_tls_ciphers;
  t.tls13_ciphers = s.client_tls13_ciphers;
  t.ecdhcurve = s.client_tls_ecdhcurve;
  t.dheparams = s.client_tls_dheparams;
  t.alpn = "postgresql";  // PostgreSQL's ALPN name, required for direct TLS
  return t;
}

std::optional<net::TlsSettings> server_side(const config::Settings& s) {
  ServerTlsMode mode = server_mode(s.server_tls_sslmode);
  if (mode == ServerTlsMode::kDisable) return std::nullopt;
  net::TlsSettings t;
  t.role = net::TlsRole::kClient;
  t.verify = mode == ServerTlsMode::kVerifyFull ? net::TlsVerify::kChainAndName
             : mode == ServerTlsMode::kVerifyCa ? net::TlsVerify::kChain
                                                : net::TlsVerify::kNone;
  t.key_file = s.server_tls_key_file;
  t.cert_file = s.server_tls_cert_file;
  t.ca_file = s.server_tls_ca_file;
  t.protocols = s.server_tls_protocols;
  t.ciphers = s.server_tls_ciphers;
  t.tls13_ciphers = s.server_tls13_ciphers;
  t.alpn = "postgresql";  // what libpq 17 sends; PostgreSQL 15 ignores it
  return t;
}

// What a context is built from: the settings, and the files' contents by hash (a renewed
// certificate under the same name is a change; an unchanged file is none).
std::string fingerprint(const std::optional<net::TlsSettings>& t) {
  if (!t) return "off";
  std::string text;
  for (const std::string* field : {&t->key_file, &t->cert_file, &t->ca_file, &t->protocols,
                                   &t->ciphers, &t->tls13_ciphers, &t->ecdhcurve, &t->dheparams,
                                   &t->alpn}) {
    text += *field;
    text += '\0';
  }
  text += std::to_string(static_cast<int>(t->verify));
  for (const std::string* path : {&t->key_file, &t->cert_file, &t->ca_file}) {
    if (path->empty()) continue;
    std::ifstream in(*path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    const std::string bytes = content.str();
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
    text.append(reinterpret_cast<const char*>(digest), sizeof digest);
  }
  return text;
}

metrics::TlsSide side_of(net::TlsRole role) {
  // The pooler is the TLS server towards clients, the TLS client towards PostgreSQL.
  return role == net::TlsRole::kServer ? metrics::TlsSide::kClient : metrics::TlsSide::kServer;
}

}  // namespace

std::optional<std::string> TlsSetup::rebuild(Built& built,
                                             const std::optional<net::TlsSettings>& wanted,
                                             const char* side) {
  std::string print = fingerprint(wanted);
  if (started_ && print == built.fingerprint) return std::nullopt;
  if (!wanted) {
    built = Built{std::move(print), nullptr};
    return std::nullopt;
  }
  auto context = net::TlsContext::create(*wanted, this);
  if (!context) return std::string(side) + ": " + context.error();
  if (started_) spdlog::info("{}: TLS settings or files changed, new connections use them", side);
  built = Built{std::move(print), std::move(*context)};
  return std::nullopt;
}

std::optional<std::string> TlsSetup::apply(const config::Settings& settings) {
  std::optional<std::string> error = rebuild(client_, client_side(settings), "client TLS");
  auto server_error = rebuild(server_, server_side(settings), "server TLS");
  if (server_error) {
    error = error ? *error + "; " + *server_error : *server_error;
  } else {
    server_mode_ = server_mode(settings.server_tls_sslmode);
  }
  if (!started_ && error) return error;
  started_ = true;
  if (error) spdlog::error("{}; the previous TLS settings stay in force", *error);
  return error;
}

backend::ServerTls TlsSetup::server() const { return {server_mode_, server_.context}; }

void TlsSetup::on_handshake(net::TlsRole role, bool ok, util::Duration took) {
  metrics::TlsEvents& e = counts_[static_cast<std::size_t>(side_of(role))];
  ++(ok ? e.handshakes_ok : e.handshakes_failed);
  if (ok) ++e.open;
  e.handshake.observe_us(static_cast<std::uint64_t>(util::duration_to_micros(took)));
}

void TlsSetup::on_tls_closed(net::TlsRole role) {
  --counts_[static_cast<std::size_t>(side_of(role))].open;
}

}  // namespace pooler::app
