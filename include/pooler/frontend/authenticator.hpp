// Authenticator: the pooler's side of a client's password exchange. It picks the method from
// auth_type and what the stored secret allows (the strongest: SCRAM whenever the secret is plain
// text or a SCRAM verifier), and checks every answer in constant time.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "pooler/config/config.hpp"
#include "pooler/protocol/md5_password.hpp"
#include "pooler/protocol/scram.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::frontend {

class Authenticator {
 public:
  enum class Outcome { kContinue, kOk, kFailed };

  // `secret` is nullptr for a user missing from auth_file: the exchange still runs (so a
  // client cannot tell a missing user from a wrong password) and then fails. `mock_seed`, a
  // process-wide random string, makes the salt shown for a missing user the same on every
  // attempt, as for a real one (PostgreSQL's mock authentication); empty: a random salt.
  // `channel_binding` is the tls-server-end-point hash of the certificate this client was shown
  // (computed by net/); when set, SCRAM-SHA-256-PLUS is offered before SCRAM-SHA-256. Empty: the
  // link is not TLS.
  Authenticator(config::AuthType type, std::string user, const config::UserSecret* secret,
                int scram_iterations, std::string_view mock_seed = {},
                std::string channel_binding = {});

  // The first message to send: an authentication request, or empty when no password is needed.
  std::string start();
  bool needs_password() const { return method_ != Method::kNone; }
  // auth_type = trust for a user missing from auth_file: refused without an exchange, as in
  // PgBouncer (only auth_type = any admits every name).
  bool refused_without_password() const { return method_ == Method::kNone && mock_; }
  // What the client is told when the login fails, in PgBouncer's words for the method.
  const char* failure_message() const;
  // Handles one PasswordMessage-family ('p') body; `reply` receives what to send back.
  Outcome handle(util::Bytes body, std::string& reply);
  // After a failed cleartext or md5 answer: whether that same answer is right for `fresh`, a
  // secret looked up again (a password rotated since the one cached). SCRAM cannot be checked
  // again: the client's proof is bound to the salt it was shown.
  bool accepts_with(const config::UserSecret& fresh);
  // Why the last kFailed happened, for the log (never contains a secret).
  const std::string& failure_detail() const { return failure_detail_; }

  // After a SCRAM login against a SCRAM verifier: keys that let the pooler log in to PostgreSQL.
  std::optional<protocol::ScramKey> scram_client_key() const;
  std::optional<protocol::ScramKey> scram_server_key() const;

 private:
  enum class Method { kNone, kCleartext, kMd5, kScram };
  Outcome fail(std::string detail);
  bool check_cleartext(std::string_view password) const;

  std::string user_;
  std::optional<config::UserSecret> secret_;
  bool mock_ = false;  // no real secret: every answer fails
  Method method_ = Method::kNone;
  int scram_iterations_;
  protocol::Md5Salt md5_salt_{};
  std::optional<protocol::ScramVerifier> verifier_;
  std::string channel_binding_;
  std::unique_ptr<protocol::ScramServerSession> scram_;
  bool scram_started_ = false;
  std::string failure_detail_;
  std::string last_answer_;  // the last cleartext or md5 answer, for accepts_with
};

}  // namespace pooler::frontend
