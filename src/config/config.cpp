// Config lookups: how a client's database and user names resolve to configured entries.
#include "pooler/config/config.hpp"

namespace pooler::config {

const char* to_string(PoolMode mode) {
  switch (mode) {
    case PoolMode::kSession:
      return "session";
    case PoolMode::kTransaction:
      return "transaction";
    case PoolMode::kStatement:
      return "statement";
  }
  return "session";
}

const char* to_string(AuthType type) {
  switch (type) {
    case AuthType::kTrust:
      return "trust";
    case AuthType::kPlain:
      return "plain";
    case AuthType::kMd5:
      return "md5";
    case AuthType::kScramSha256:
      return "scram-sha-256";
    case AuthType::kAny:
      return "any";
    case AuthType::kHba:
      return "hba";
    case AuthType::kCert:
      return "cert";
  }
  return "md5";
}

std::optional<DatabaseEntry> Config::find_database(const std::string& name) const {
  auto found = databases.find(name);
  if (found == databases.end()) {
    found = databases.find("*");
    if (found == databases.end()) {
      return std::nullopt;
    }
  }
  DatabaseEntry entry = found->second;
  entry.name = name;
  if (entry.dbname.empty()) {
    entry.dbname = name;
  }
  return entry;
}

const UserEntry* Config::find_user(const std::string& name) const {
  auto found = users.find(name);
  return found == users.end() ? nullptr : &found->second;
}

const UserSecret* Config::find_secret(const std::string& user) const {
  auto found = auth_users.find(user);
  return found == auth_users.end() ? nullptr : &found->second;
}

}  // namespace pooler::config
