// pg_hba.conf, as PostgreSQL and PgBouncer read it: whitespace-separated fields, "quoted" words
// (a quoted keyword is a plain name), comma lists, @file includes, # comments, and a trailing
// backslash continuing a record on the next line.
#include "pooler/config/hba.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "text_lines.hpp"

namespace pooler::config {

namespace {

struct Token {
  std::string text;
  bool quoted = false;
  bool comma_after = false;  // a comma joins it to the next token of the same field
};

// The fields of one record; each field is a comma list of tokens. nullopt (and `error` set)
// on an unterminated quote.
std::optional<std::vector<std::vector<Token>>> split_fields(const std::string& record,
                                                            std::string& error) {
  std::vector<std::vector<Token>> fields;
  std::size_t i = 0;
  bool continue_field = false;
  while (i < record.size()) {
    char c = record[i];
    if (c == '#') break;
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == ',') {  // a separated comma: "a , b" is still one list
      if (!fields.empty() && !fields.back().empty()) fields.back().back().comma_after = true;
      continue_field = true;
      ++i;
      continue;
    }
    Token token;
    while (i < record.size()) {
      c = record[i];
      if (c == '"') {
        std::size_t close = record.find('"', i + 1);
        if (close == std::string::npos) {
          error = "unterminated quoted string";
          return std::nullopt;
        }
        token.text.append(record, i + 1, close - i - 1);
        token.quoted = true;
        i = close + 1;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '#') {
        break;
      } else {
        token.text += c;
        ++i;
      }
    }
    if (i < record.size() && record[i] == ',') {
      token.comma_after = true;
      ++i;
    }
    if (continue_field && !fields.empty()) {
      fields.back().push_back(std::move(token));
    } else {
      fields.push_back({std::move(token)});
    }
    continue_field = fields.back().back().comma_after;
  }
  return fields;
}

std::optional<HbaConnection> parse_connection(const std::string& word) {
  if (word == "local") return HbaConnection::kLocal;
  if (word == "host") return HbaConnection::kHost;
  if (word == "hostssl") return HbaConnection::kHostSsl;
  if (word == "hostnossl") return HbaConnection::kHostNoSsl;
  return std::nullopt;
}

struct MethodName {
  const char* name;
  HbaMethod method;
};

constexpr MethodName kMethods[] = {
    {"trust", HbaMethod::kTrust},    {"reject", HbaMethod::kReject},
    {"password", HbaMethod::kPassword}, {"md5", HbaMethod::kMd5},
    {"scram-sha-256", HbaMethod::kScramSha256}, {"cert", HbaMethod::kCert},
    {"peer", HbaMethod::kPeer},
};

// The directory of `file` with a slash, for @file names that are relative.
std::string directory_of(const std::string& file) {
  std::size_t slash = file.rfind('/');
  return slash == std::string::npos ? std::string() : file.substr(0, slash + 1);
}

bool parse_ip(const std::string& text, HbaAddress& out) {
  in6_addr v6{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    out.ipv4 = true;
    out.address = {};
    out.address[10] = out.address[11] = 0xff;  // IPv4-mapped: ::ffff:a.b.c.d
    std::memcpy(out.address.data() + 12, &v4, 4);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    out.ipv4 = false;
    std::memcpy(out.address.data(), &v6, 16);
    return true;
  }
  return false;
}

void set_prefix_mask(HbaAddress& a, int bits) {
  a.mask = {};
  for (int i = 0; i < 128 && bits > 0; ++i, --bits) {
    a.mask[static_cast<std::size_t>(i / 8)] |= static_cast<std::uint8_t>(0x80 >> (i % 8));
  }
}

class Parser {
 public:
  Parser(const std::string& file, const HbaFileReader& read_file, std::vector<Diagnostic>& out)
      : file_(file), read_file_(read_file), out_(out) {}

  void record(const std::string& text, int line, HbaRules& rules) {
    line_ = line;
    std::string error;
    auto fields = split_fields(text, error);
    if (!fields) return fail(error);
    if (fields->empty()) return;
    std::size_t at = 0;
    auto next_word = [&](const char* what) -> std::optional<std::vector<Token>> {
      if (at >= fields->size()) {
        fail(std::string("end of line before the ") + what + " field");
        return std::nullopt;
      }
      return (*fields)[at++];
    };
    HbaRule rule;
    rule.line = line;
    const std::vector<Token>& type_field = (*fields)[at++];
    auto connection = parse_connection(type_field[0].text);
    if (type_field.size() != 1 || !connection) {
      return fail("invalid connection type \"" + type_field[0].text + "\"");
    }
    rule.connection = *connection;
    auto databases = next_word("database");
    if (!databases || !names(*databases, true, rule.databases)) return;
    auto users = next_word("user");
    if (!users || !names(*users, false, rule.users)) return;
    if (rule.connection != HbaConnection::kLocal) {
      auto address = next_word("address");
      if (!address || !parse_address(*address, *fields, at, rule.address)) return;
    }
    auto method = next_word("method");
    if (!method) return;
    if (!parse_method(*method, rule)) return;
    for (; at < fields->size(); ++at) {
      const std::string& option = (*fields)[at][0].text;
      if (option.rfind("map=", 0) == 0 && option.size() > 4) {
        rule.map = option.substr(4);
      } else {
        return fail("unsupported authentication option \"" + option + "\"");
      }
    }
    if (!rule.map.empty() && rule.method != HbaMethod::kPeer &&
        rule.method != HbaMethod::kCert) {
      return fail("map= is only for the peer and cert methods");
    }
    if (rule.method == HbaMethod::kPeer && rule.connection != HbaConnection::kLocal) {
      return fail("peer authentication is only for local (unix socket) connections");
    }
    if (rule.method == HbaMethod::kCert && rule.connection != HbaConnection::kHostSsl) {
      return fail("cert authentication is only for hostssl connections");
    }
    rules.rules.push_back(std::move(rule));
  }

 private:
  void fail(std::string message) {
    Diagnostic d;
    d.file = file_;
    d.line = line_;
    d.message = std::move(message);
    out_.push_back(std::move(d));
  }

  bool names(const std::vector<Token>& tokens, bool database_column, HbaNames& out) {
    for (const Token& t : tokens) {
      if (!t.quoted && t.text == "all") {
        out.all = true;
      } else if (database_column && !t.quoted && t.text == "sameuser") {
        out.sameuser = true;
      } else if (database_column && !t.quoted && t.text == "replication") {
        out.replication = true;
      } else if (!t.quoted && !t.text.empty() && t.text[0] == '@') {
        if (!include(t.text.substr(1), out.names)) return false;
      } else if (!t.quoted && !t.text.empty() && t.text[0] == '+') {
        fail("group membership (+" + t.text.substr(1) + ") is not supported");
        return false;
      } else if (t.text.empty()) {
        fail(std::string("empty ") + (database_column ? "database" : "user") + " name");
        return false;
      } else {
        out.names.push_back(t.text);
      }
    }
    return true;
  }

  // An @file: names separated by whitespace or commas, # comments, one level deep.
  bool include(const std::string& name, std::vector<std::string>& names) {
    if (name.empty()) {
      fail("@ without a file name");
      return false;
    }
    std::string path = name[0] == '/' ? name : directory_of(file_) + name;
    std::optional<std::string> text = read_file_ ? read_file_(path) : std::nullopt;
    if (!text) {
      fail("could not read the included file \"" + path + "\"");
      return false;
    }
    std::size_t pos = 0;
    while (pos < text->size()) {
      std::size_t end = text->find('\n', pos);
      if (end == std::string::npos) end = text->size();
      std::string error;
      auto fields = split_fields(text->substr(pos, end - pos), error);
      pos = end + 1;
      if (!fields) {
        fail("\"" + path + "\": " + error);
        return false;
      }
      for (const auto& field : *fields) {
        for (const Token& t : field) {
          if (!t.text.empty()) names.push_back(t.text);
        }
      }
    }
    return true;
  }

  bool parse_address(const std::vector<Token>& field, const std::vector<std::vector<Token>>& all,
                     std::size_t& at, HbaAddress& out) {
    const std::string& text = field[0].text;
    if (field.size() != 1) {
      fail("an address field takes one address");
      return false;
    }
    if (text == "all") {
      out.all = true;
      return true;
    }
    if (text == "samehost" || text == "samenet") {
      fail("\"" + text + "\" is not supported; write the address");
      return false;
    }
    std::size_t slash = text.find('/');
    std::string ip = text.substr(0, slash);
    if (!parse_ip(ip, out)) {
      fail("invalid IP address \"" + ip + "\" (host names are not supported)");
      return false;
    }
    int max_bits = out.ipv4 ? 32 : 128;
    if (slash != std::string::npos) {
      std::string bits_text = text.substr(slash + 1);
      char* end = nullptr;
      long bits = std::strtol(bits_text.c_str(), &end, 10);
      if (bits_text.empty() || *end != '\0' || bits < 0 || bits > max_bits) {
        fail("invalid CIDR mask in address \"" + text + "\"");
        return false;
      }
      set_prefix_mask(out, static_cast<int>(bits) + (out.ipv4 ? 96 : 0));
    } else {
      // The mask is the next field, as "10.0.0.0 255.0.0.0".
      if (at >= all.size()) {
        fail("end of line before the IP mask field");
        return false;
      }
      HbaAddress mask;
      const std::string& mask_text = all[at++][0].text;
      if (!parse_ip(mask_text, mask) || mask.ipv4 != out.ipv4) {
        fail("invalid IP mask \"" + mask_text + "\"");
        return false;
      }
      out.mask = mask.address;
      if (out.ipv4) {
        for (int i = 0; i < 12; ++i) out.mask[static_cast<std::size_t>(i)] = 0xff;
      }
    }
    for (std::size_t i = 0; i < 16; ++i) out.address[i] &= out.mask[i];
    return true;
  }

  bool parse_method(const std::vector<Token>& field, HbaRule& rule) {
    const std::string& word = field[0].text;
    for (const MethodName& m : kMethods) {
      if (word == m.name && field.size() == 1) {
        rule.method = m.method;
        return true;
      }
    }
    for (const char* known : {"ident", "gss", "sspi", "ldap", "pam", "radius", "bsd"}) {
      if (word == known) {
        fail("authentication method \"" + word + "\" is not supported");
        return false;
      }
    }
    fail("invalid authentication method \"" + word + "\"");
    return false;
  }

  const std::string& file_;
  const HbaFileReader& read_file_;
  std::vector<Diagnostic>& out_;
  int line_ = 0;
};

bool listed(const std::vector<std::string>& names, const std::string& name) {
  for (const auto& n : names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

const char* to_string(HbaMethod method) {
  for (const MethodName& m : kMethods) {
    if (m.method == method) return m.name;
  }
  return "?";
}

HbaRules parse_hba_text(const std::string& text, const std::string& file,
                        const HbaFileReader& read_file, std::vector<Diagnostic>& diagnostics) {
  HbaRules rules;
  rules.file = file;
  Parser parser(file, read_file, diagnostics);
  std::string record;
  int first_line = 0;
  for_each_line(text, [&](int line_number, std::string line) {
    if (record.empty()) first_line = line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // A trailing backslash continues the record (outside a comment).
    if (!line.empty() && line.back() == '\\' && line.find('#') == std::string::npos) {
      line.pop_back();
      record += line + " ";
      return;
    }
    record += line;
    parser.record(record, first_line, rules);
    record.clear();
  });
  if (!record.empty()) parser.record(record, first_line, rules);
  return rules;
}

const HbaRule* match_hba(const HbaRules& rules, const HbaRequest& request) {
  HbaAddress client;
  bool have_address = !request.unix_socket && parse_ip(request.address, client);
  for (const HbaRule& rule : rules.rules) {
    switch (rule.connection) {
      case HbaConnection::kLocal:
        if (!request.unix_socket) continue;
        break;
      case HbaConnection::kHost:
        if (request.unix_socket) continue;
        break;
      case HbaConnection::kHostSsl:
        if (request.unix_socket || !request.tls) continue;
        break;
      case HbaConnection::kHostNoSsl:
        if (request.unix_socket || request.tls) continue;
        break;
    }
    if (rule.connection != HbaConnection::kLocal && !rule.address.all) {
      // An IPv6 rule does not take IPv4 clients, nor the other way round, as in PostgreSQL.
      if (!have_address || client.ipv4 != rule.address.ipv4) continue;
      bool inside = true;
      for (std::size_t i = 0; i < 16 && inside; ++i) {
        inside = (client.address[i] & rule.address.mask[i]) == rule.address.address[i];
      }
      if (!inside) continue;
    }
    const HbaNames& dbs = rule.databases;
    bool database_ok = request.physical_replication
                           ? dbs.replication
                           : dbs.all || (dbs.sameuser && request.database == request.user) ||
                                 listed(dbs.names, request.database);
    if (!database_ok) continue;
    const HbaNames& users = rule.users;
    if (!users.all && !listed(users.names, request.user)) continue;
    return &rule;
  }
  return nullptr;
}

}  // namespace pooler::config
