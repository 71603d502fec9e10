// The login decision: auth_type as it is, or the hba rule's method mapped onto the ways the
// frontend can authenticate. Refusals use PostgreSQL 15's messages word for word.
#include "pooler/frontend/login_method.hpp"

#include "pooler/config/hba.hpp"

namespace pooler::frontend {

using config::AuthType;
using config::HbaMethod;

namespace {

// A listener on "::" sees IPv4 clients as IPv4-mapped IPv6 (::ffff:a.b.c.d); hba rules and
// messages speak of them as the IPv4 addresses they are, as a separate IPv4 listener would.
std::string plain_address(const std::string& address) {
  static constexpr std::string_view kMapped = "::ffff:";
  if (address.size() > kMapped.size() && address.compare(0, kMapped.size(), kMapped) == 0 &&
      address.find('.') != std::string::npos) {
    return address.substr(kMapped.size());
  }
  return address;
}

// PostgreSQL's `host "ADDR", user "USER", database "DB", no encryption` (or SSL encryption); a
// physical replication connection names no database.
std::string connection_text(const LoginRequest& request, const std::string& address) {
  std::string text = "host \"" + (request.unix_socket ? std::string("[local]") : address) +
                     "\", user \"" + request.user + "\", ";
  if (!request.physical_replication) text += "database \"" + request.database + "\", ";
  return text + (request.tls ? "SSL encryption" : "no encryption");
}

LoginMethod refused(std::string message, int line) {
  LoginMethod method;
  method.kind = LoginKind::kRefused;
  method.refusal = std::move(message);
  method.hba_line = line;
  return method;
}

}  // namespace

LoginMethod decide_login_method(const config::Config& config, const LoginRequest& request) {
  LoginMethod method;
  const AuthType type = config.settings.auth_type;
  if (type != AuthType::kHba) {
    method.kind = type == AuthType::kCert ? LoginKind::kCertificate : LoginKind::kAuthenticator;
    method.auth_type = type;
    return method;
  }
  const std::string address = plain_address(request.address);
  const config::HbaRule* rule = nullptr;
  if (config.hba) {
    config::HbaRequest hba_request{request.unix_socket, request.tls, address, request.database,
                                   request.user, request.physical_replication};
    rule = config::match_hba(*config.hba, hba_request);
  }
  if (rule == nullptr) {
    const char* what = request.physical_replication ? "replication connection from " : "";
    return refused("no pg_hba.conf entry for " + std::string(what) +
                       connection_text(request, address),
                   0);
  }
  method.hba_line = rule->line;
  method.map = rule->map;
  switch (rule->method) {
    case HbaMethod::kReject:
      return refused(std::string("pg_hba.conf rejects ") +
                         (request.physical_replication ? "replication connection" : "connection") +
                         " for " + connection_text(request, address),
                     rule->line);
    case HbaMethod::kTrust:
      method.auth_type = AuthType::kTrust;
      break;
    case HbaMethod::kPassword:
      method.auth_type = AuthType::kPlain;
      break;
    case HbaMethod::kMd5:
      method.auth_type = AuthType::kMd5;
      break;
    case HbaMethod::kScramSha256:
      method.auth_type = AuthType::kScramSha256;
      break;
    case HbaMethod::kCert:
      method.kind = LoginKind::kCertificate;
      method.auth_type = AuthType::kCert;
      break;
    case HbaMethod::kPeer:
      // The parser allows peer on local lines only; a rule made otherwise still cannot apply.
      if (!request.unix_socket) {
        return refused("peer authentication is only supported on local sockets", rule->line);
      }
      method.kind = LoginKind::kPeer;
      break;
  }
  return method;
}

}  // namespace pooler::frontend
