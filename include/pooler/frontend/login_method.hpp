// LoginMethod: how one login must authenticate, decided from auth_type or, with auth_type = hba,
// the first hba rule matching the connection, database and user. Pure: ClientConnection carries
// the decision out.
#pragma once

#include <string>

#include "pooler/config/config.hpp"

namespace pooler::frontend {

// What the decision knows of the connection.
struct LoginRequest {
  bool unix_socket = false;
  bool tls = false;
  std::string address;  // the client's IP address in text; ignored for the unix socket
  std::string database;
  std::string user;
  bool physical_replication = false;  // replication=true in the startup packet
};

enum class LoginKind {
  kAuthenticator,  // the password exchange of `auth_type` (trust, any, plain, md5, scram-sha-256)
  kCertificate,    // the verified client certificate's common name, through `map` if set
  kPeer,           // the unix socket peer's OS user name, through `map` if set
  kRefused,        // refused before any exchange: SQLSTATE 28000 with `refusal`
};

struct LoginMethod {
  LoginKind kind = LoginKind::kAuthenticator;
  config::AuthType auth_type = config::AuthType::kMd5;  // for kAuthenticator
  std::string map;      // kCertificate, kPeer: the auth_ident_file map; empty: names must match
  std::string refusal;  // kRefused: the message, in PostgreSQL's words
  int hba_line = 0;     // the hba rule it came from; 0 when auth_type is not hba
};

LoginMethod decide_login_method(const config::Config& config, const LoginRequest& request);

}  // namespace pooler::frontend
