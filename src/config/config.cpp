// Config lookups: how a client's database and user names resolve to configured entries.
#include "pooler/config/config.hpp"

#include <algorithm>

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

std::vector<HostPort> DatabaseEntry::servers() const {
  std::vector<HostPort> list;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = host.find(',', start);
    std::string item = host.substr(start, comma == std::string::npos ? comma : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    // The parser refuses a port list of another length; the last port covers any shortfall.
    int port = ports.empty() ? 5432 : ports[std::min(list.size(), ports.size() - 1)];
    list.push_back({std::move(item), port});
    if (comma == std::string::npos) return list;
    start = comma + 1;
  }
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
