// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, both ways: the pooler verifies its
// clients (ScramServerSession) and logs in to PostgreSQL (ScramClientSession). Pure: no I/O.
// Channel binding (SCRAM-SHA-256-PLUS) is tls-server-end-point only, as in PostgreSQL: the caller
// hands in the hash of the server certificate (RFC 5929), computed by net/, and picks the
// mechanism; the sessions enforce what the gs2 header and "c=" must then say.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pooler/util/result.hpp"

namespace pooler::protocol {

inline constexpr const char* kScramSha256 = "SCRAM-SHA-256";
inline constexpr const char* kScramSha256Plus = "SCRAM-SHA-256-PLUS";

using ScramKey = std::array<std::uint8_t, 32>;

// What a server needs to verify a client: the parsed "SCRAM-SHA-256$iter:salt$stored:server".
struct ScramVerifier {
  int iterations = 4096;
  std::string salt;  // raw bytes (decoded from base64)
  ScramKey stored_key{};
  ScramKey server_key{};
};

// Parses a PostgreSQL SCRAM verifier; nullopt if it is not one.
std::optional<ScramVerifier> parse_scram_verifier(std::string_view secret);

// Derives a verifier from a plain password as PostgreSQL does: SASLprep first, the raw bytes when
// SASLprep fails (see saslprep.hpp). The client session's password is treated the same way.
ScramVerifier make_scram_verifier(std::string_view password, std::string_view salt, int iterations);

// Formats a verifier as PostgreSQL stores it.
std::string format_scram_verifier(const ScramVerifier& verifier);

// The pooler as SCRAM server. Feed it the client's messages in order.
class ScramServerSession {
 public:
  // `nonce` is the server's nonce part (printable, no ','); empty: generate 18 random bytes.
  // `channel_binding` is the tls-server-end-point hash of the certificate the pooler showed this
  // client; empty when the link is not TLS, which also means SCRAM-SHA-256-PLUS is not offered.
  explicit ScramServerSession(ScramVerifier verifier, std::string nonce = "",
                              std::string channel_binding = "");

  // SASLInitialResponse data -> server-first-message, or an error (malformed / unsupported).
  // `mechanism` is the one the SASLInitialResponse named: the gs2 header must agree with it, and
  // a "y" flag is refused when binding was possible (the mechanism list was tampered with).
  util::Result<std::string> handle_client_first(std::string_view client_first,
                                                std::string_view mechanism = kScramSha256);
  // SASLResponse data -> server-final-message ("v=..."), or an error when the proof is wrong.
  util::Result<std::string> handle_client_final(std::string_view client_final);
  // After a successful handle_client_final: the ClientKey the client proved it knows, which lets
  // the pooler log in to a PostgreSQL holding the same verifier (SCRAM pass-through).
  const std::optional<ScramKey>& client_key() const { return client_key_; }

 private:
  ScramVerifier verifier_;
  std::string server_nonce_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string combined_nonce_;
  std::optional<ScramKey> client_key_;
  std::string gs2_header_;  // as the client sent it: "c=" in client-final must repeat it
  std::string channel_binding_;
  bool binding_in_use_ = false;  // the client chose SCRAM-SHA-256-PLUS
  bool finished_ = false;        // one proof per session: a retry would be a free guessing oracle
};

// What the pooler can prove to PostgreSQL: a plain password, or the keys recovered from a
// client's SCRAM exchange (then the server's salt and iterations must match the verifier).
struct ScramClientCredentials {
  std::string password;                // used when client_key is not set
  std::optional<ScramKey> client_key;  // pass-through
  std::optional<ScramKey> server_key;  // to check the server's signature in pass-through
  // Sent as "n=" in client-first. PostgreSQL ignores it (the startup packet names the user), so
  // it stays empty; RFC test vectors need it set.
  std::string user;
};

// What the pooler knows of its link to PostgreSQL when it picks a mechanism.
struct ScramClientBinding {
  std::string data;                 // tls-server-end-point hash of the server's certificate
  bool server_offers_plus = false;  // AuthenticationSASL listed SCRAM-SHA-256-PLUS
};

// The pooler as SCRAM client of PostgreSQL. It binds the way libpq's channel_binding=prefer
// does: SCRAM-SHA-256-PLUS when it has the certificate hash and the server offers it, "y" when
// it has the hash but the server offered no PLUS (a server that could bind then refuses, which
// catches a stripped mechanism list), "n" without TLS.
class ScramClientSession {
 public:
  // `nonce` as for ScramServerSession; empty: random.
  explicit ScramClientSession(ScramClientCredentials credentials, std::string nonce = "",
                              ScramClientBinding binding = {});

  // The mechanism to name in SASLInitialResponse.
  std::string_view mechanism() const;
  // The SASLInitialResponse data ("<gs2 header>n=,r=<nonce>").
  std::string client_first_message();
  // AuthenticationSASLContinue data -> the SASLResponse data (client-final-message).
  util::Result<std::string> handle_server_first(std::string_view server_first);
  // AuthenticationSASLFinal data: ok only if the server proved it knows the verifier.
  util::Result<bool> verify_server_final(std::string_view server_final);

 private:
  ScramClientCredentials credentials_;
  std::string client_nonce_;
  std::string gs2_header_;
  std::string channel_binding_;  // empty unless the PLUS mechanism was chosen
  std::string client_first_bare_;
  std::string expected_server_signature_;  // raw bytes; empty until handle_server_first succeeds
};

}  // namespace pooler::protocol
