// HbaRules: auth_hba_file in the pg_hba.conf format PgBouncer reads, parsed with file and line in
// every error, and the first-match decision for one login. Pure: no sockets, no files read
// except through the caller's reader (for @file lists). The frontend applies the decision.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pooler/config/diagnostics.hpp"

namespace pooler::config {

enum class HbaConnection { kLocal, kHost, kHostSsl, kHostNoSsl };
enum class HbaMethod { kTrust, kReject, kPassword, kMd5, kScramSha256, kCert, kPeer };

const char* to_string(HbaMethod method);

// A database or user column: keywords, names, and names read from @files.
struct HbaNames {
  bool all = false;
  bool sameuser = false;     // databases: the one named like the user
  bool replication = false;  // databases: a replication connection (never a pooled one)
  std::vector<std::string> names;
  bool operator==(const HbaNames&) const = default;
};

// An address column: everything, or an address under a mask (IPv4 kept as IPv4-mapped IPv6).
struct HbaAddress {
  bool all = false;
  std::array<std::uint8_t, 16> address{};
  std::array<std::uint8_t, 16> mask{};
  bool ipv4 = false;
  bool operator==(const HbaAddress&) const = default;
};

struct HbaRule {
  int line = 0;
  HbaConnection connection = HbaConnection::kLocal;
  HbaNames databases;
  HbaNames users;
  HbaAddress address;  // unused for local
  HbaMethod method = HbaMethod::kReject;
  std::string map;  // map= for peer and cert: the auth_ident_file map to resolve names through
  bool operator==(const HbaRule&) const = default;
};

struct HbaRules {
  std::string file;
  std::vector<HbaRule> rules;
  bool operator==(const HbaRules&) const = default;
};

// Reads an @file named in the hba file (resolved against the hba file's directory); nullopt
// when it cannot be read.
using HbaFileReader = std::function<std::optional<std::string>(const std::string& path)>;

// Parses the text of `file`. A line with an error is left out and named in `diagnostics`; the
// caller decides whether any error keeps the old rules (it should: a rule left out could be
// the one that rejects).
HbaRules parse_hba_text(const std::string& text, const std::string& file,
                        const HbaFileReader& read_file, std::vector<Diagnostic>& diagnostics);

// One login as the hba rules see it.
struct HbaRequest {
  bool unix_socket = false;
  bool tls = false;
  std::string address;  // the client's IP address in text ("10.1.2.3", "::1"); empty for unix
  std::string database;
  std::string user;
  // replication=true: matched only by the `replication` keyword, as in PostgreSQL (a logical
  // replication connection names its database and matches as any login does).
  bool physical_replication = false;
};

// The first rule that matches, as PostgreSQL picks it; nullptr when none does (the login is then
// refused).
const HbaRule* match_hba(const HbaRules& rules, const HbaRequest& request);

}  // namespace pooler::config
