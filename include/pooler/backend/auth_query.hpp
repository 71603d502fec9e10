// The auth_query exchange as bytes: the request (the query with the user name bound to $1, in the
// extended protocol so the name is never spliced into SQL) and a reader for PostgreSQL's answer.
// Pure: the look-up that sends it over a server connection is frontend/secret_lookup.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pooler/util/bytes.hpp"

namespace pooler::backend {

// Parse, Bind, Execute and Sync of `query` with `user` as its one text parameter, unnamed
// statement and portal (nothing is left on the server for the next user of the connection).
std::string auth_query_request(std::string_view query, std::string_view user);

// What one auth_query answered.
struct AuthQueryAnswer {
  enum class Kind {
    kSecret,    // a row with a secret
    kNoSecret,  // a row whose secret is NULL (rolvaliduntil has passed, or no password set)
    kNoRow,     // the user is not there (or cannot log in)
    kError,     // the query failed or answered in a shape it must not have
  };
  Kind kind = Kind::kError;
  std::string secret;  // kSecret
  std::string error;   // kError: PostgreSQL's message, or what was wrong with the answer
};

// Reads the server's answer to auth_query_request, chunk by chunk as it arrives, up to and
// including ReadyForQuery.
class AuthQueryReply {
 public:
  enum class Status { kNeedMore, kDone };

  // Appends `data`; kDone once ReadyForQuery has been read (bytes after it are not looked at).
  Status feed(util::Bytes data);
  const AuthQueryAnswer& answer() const { return answer_; }

 private:
  void read_message(char type, util::Bytes body);
  void fail(std::string why);

  std::string pending_;
  AuthQueryAnswer answer_;
  bool seen_row_ = false;
  bool failed_ = false;
  bool done_ = false;
};

}  // namespace pooler::backend
