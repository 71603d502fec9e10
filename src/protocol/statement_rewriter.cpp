// Client messages under the pooler's statement names: Parse recorded (and answered from the
// server's cache when it can be), Bind/Describe/Close renamed, a missing statement prepared first.
#include "pooler/protocol/statement_rewriter.hpp"

#include <cstring>
#include <optional>
#include <vector>

#include "pooler/protocol/message_builder.hpp"

namespace pooler::protocol {

namespace {

void append_message(std::string& out, char type, util::Bytes body) {
  std::size_t at = begin_message(out, type);
  util::ByteWriter(out).raw(body);
  finish_message(out, at);
}

// The NUL-terminated string at `at`, and where it ends (past the NUL); false when unterminated.
bool cstring_at(util::Bytes body, std::size_t at, std::string_view& s, std::size_t& end) {
  if (at >= body.size()) return false;
  const void* nul = std::memchr(body.data() + at, 0, body.size() - at);
  if (nul == nullptr) return false;
  std::size_t len = static_cast<const std::uint8_t*>(nul) - (body.data() + at);
  s = util::as_chars(body.subspan(at, len));
  end = at + len + 1;
  return true;
}

Expectation forward(char request) {
  Expectation e;
  e.request = request;
  return e;
}

Expectation about(Expect what, StatementRef statement, std::string_view client_name = {}) {
  Expectation e;
  e.what = what;
  e.statement = std::move(statement);
  e.client_name.assign(client_name);
  return e;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_word(std::string_view word, std::string_view keyword) {
  if (word.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (lower(word[i]) != keyword[i]) return false;
  }
  return true;
}

// Splits SQL into blank-separated words, with "quoted identifiers" as one word.
class Words {
 public:
  explicit Words(std::string_view sql) : sql_(sql) {}
  // The next word, or empty at the end; nullopt on an unterminated quote.
  std::optional<std::string_view> next() {
    while (pos_ < sql_.size() && is_blank(sql_[pos_])) ++pos_;
    std::size_t start = pos_;
    if (pos_ < sql_.size() && sql_[pos_] == '"') {
      for (++pos_; pos_ < sql_.size(); ++pos_) {
        if (sql_[pos_] != '"') continue;
        if (pos_ + 1 < sql_.size() && sql_[pos_ + 1] == '"') {
          ++pos_;
          continue;
        }
        ++pos_;
        return sql_.substr(start, pos_ - start);
      }
      return std::nullopt;
    }
    while (pos_ < sql_.size() && !is_blank(sql_[pos_])) ++pos_;
    return sql_.substr(start, pos_ - start);
  }

 private:
  std::string_view sql_;
  std::size_t pos_ = 0;
};

// A statement name as PostgreSQL reads it: quoted ones kept (with "" undoubled), plain ones
// folded to lower case; nullopt when it is not a plain identifier.
std::optional<std::string> identifier(std::string_view word) {
  std::string out;
  if (word.size() >= 2 && word.front() == '"') {
    for (std::size_t i = 1; i + 1 < word.size(); ++i) {
      out.push_back(word[i]);
      if (word[i] == '"') ++i;
    }
    if (out.empty()) return std::nullopt;
    return out;
  }
  if (word.empty()) return std::nullopt;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = (c >= '0' && c <= '9') || c == '$';
    if (!letter && !(digit && i > 0)) return std::nullopt;
    out.push_back(lower(c));
  }
  return out;
}

}  // namespace

DeallocateCommand parse_deallocate(std::string_view sql) {
  if (!sql.empty() && sql.back() == '\0') sql.remove_suffix(1);
  while (!sql.empty() && (is_blank(sql.back()) || sql.back() == ';')) sql.remove_suffix(1);
  Words words(sql);
  auto first = words.next();
  auto second = words.next();
  auto third = words.next();
  if (!first || !second || !third || second->empty()) return {};
  DeallocateCommand none;
  if (equals_word(*first, "discard")) {
    if (equals_word(*second, "all") && third->empty()) {
      return {DeallocateCommand::Kind::kDiscardAll, {}};
    }
    return none;
  }
  if (!equals_word(*first, "deallocate")) return none;
  std::string_view target = *second;
  if (equals_word(*second, "prepare") && !third->empty()) {
    target = *third;
    third = words.next();
    if (!third) return none;
  }
  if (!third->empty()) return none;
  if (equals_word(target, "all")) return {DeallocateCommand::Kind::kDeallocateAll, {}};
  std::optional<std::string> name = identifier(target);
  if (!name) return none;
  return {DeallocateCommand::Kind::kDeallocateName, std::move(*name)};
}

void StatementRewriter::on_client_message(char type, util::Bytes body, StatementSession session,
                                          std::string& to_server, std::string& to_client) {
  if (!session.server.tracking()) {
    append_message(to_server, type, body);
    return;
  }
  switch (type) {
    case 'P':
      on_parse(body, session, to_server);
      break;
    case 'B': {
      std::string_view portal;
      std::size_t name_at = 0;
      if (!cstring_at(body, 0, portal, name_at)) name_at = body.size();
      on_named_use('B', body, name_at, session, to_server);
      break;
    }
    case 'D':
      if (!body.empty() && body[0] == 'S') {
        on_named_use('D', body, 1, session, to_server);
      } else {
        append_message(to_server, type, body);
        session.replies.expect(forward(type));
      }
      break;
    case 'C':
      on_close(body, session, to_server);
      break;
    case 'Q':
      on_query(body, session, to_server);
      break;
    case 'E':
    case 'S':
    case 'F':
      append_message(to_server, type, body);
      session.replies.expect(forward(type));
      break;
    default:
      // Flush, the COPY messages, Terminate: no reply of their own.
      append_message(to_server, type, body);
      break;
  }
  session.replies.emit_ready({session.client, session.server}, to_client);
}

void StatementRewriter::on_parse(util::Bytes body, StatementSession& s, std::string& to_server) {
  std::string_view name, query;
  std::size_t query_at = 0, types_at = 0;
  bool well_formed =
      cstring_at(body, 0, name, query_at) && cstring_at(body, query_at, query, types_at);
  if (well_formed) {
    util::ByteReader types(body.subspan(types_at));
    auto count = types.i16();
    well_formed =
        count && *count >= 0 && types.bytes(std::size_t(*count) * 4) && types.remaining() == 0;
  }
  // The unnamed statement lives until the next Parse on this server, so it needs no tracking; a
  // malformed Parse goes on for PostgreSQL to refuse in its own words.
  if (!well_formed || name.empty()) {
    append_message(to_server, 'P', body);
    s.replies.expect(forward('P'));
    return;
  }
  util::Bytes types = body.subspan(types_at);
  ++s.counters.client_parse_count;
  const StatementRef* existing = s.client.find(name);
  // Undoing a skipped Parse puts back what the name meant before, even when that was the same.
  StatementRef statement, previous;
  if (existing != nullptr) previous = *existing;
  if (existing != nullptr && (*existing)->same_text(query, types)) {
    statement = *existing;
  } else {
    statement = catalog_.intern(query, types);
    s.client.set(name, statement);
  }
  Expectation answer = about(Expect::kForward, statement, name);
  answer.request = 'P';
  answer.previous = std::move(previous);
  if (s.server.touch(statement.get())) {
    answer.what = Expect::kSynthParse;
    s.replies.expect(std::move(answer));
    return;
  }
  prepare_on_server(statement, s, to_server, &answer);
}

void StatementRewriter::on_named_use(char type, util::Bytes body, std::size_t name_at,
                                     StatementSession& s, std::string& to_server) {
  std::string_view name;
  std::size_t rest_at = 0;
  const StatementRef* known = nullptr;
  if (cstring_at(body, name_at, name, rest_at) && !name.empty()) known = s.client.find(name);
  // Unknown names go on unchanged: PostgreSQL answers 26000 as it would without the pooler.
  if (known == nullptr) {
    append_message(to_server, type, body);
    s.replies.expect(forward(type));
    return;
  }
  StatementRef statement = *known;
  if (!s.server.touch(statement.get())) prepare_on_server(statement, s, to_server, nullptr);
  if (type == 'B') ++s.counters.bind_count;
  std::size_t at = begin_message(to_server, type);
  util::ByteWriter w(to_server);
  w.raw(body.first(name_at));
  w.cstring(statement->server_name);
  w.raw(body.subspan(rest_at));
  finish_message(to_server, at);
  s.replies.expect(forward(type));
}

void StatementRewriter::on_close(util::Bytes body, StatementSession& s, std::string& to_server) {
  std::string_view name;
  std::size_t end = 0;
  if (!body.empty() && body[0] == 'S' && cstring_at(body, 1, name, end) && !name.empty() &&
      end == body.size()) {
    // Only the client's name goes: other clients (and this one, later) may use the statement.
    if (StatementRef statement = s.client.erase(name)) {
      s.replies.expect(about(Expect::kSynthClose, std::move(statement), name));
      return;
    }
  }
  append_message(to_server, 'C', body);
  s.replies.expect(forward('C'));
}

void StatementRewriter::on_query(util::Bytes body, StatementSession& s, std::string& to_server) {
  DeallocateCommand command = parse_deallocate(util::as_chars(body));
  Expectation answer = forward('Q');
  switch (command.kind) {
    case DeallocateCommand::Kind::kDeallocateAll:
      // The server's copies stay for whoever prepares the same text next.
      answer.saved = std::make_shared<const ClientStatements>(s.client);
      s.client.clear();
      answer.what = Expect::kSynthDeallocate;
      answer.tag = "DEALLOCATE ALL";
      s.replies.expect(std::move(answer));
      return;
    case DeallocateCommand::Kind::kDeallocateName:
      if (StatementRef statement = s.client.erase(command.name)) {
        Expectation dropped = about(Expect::kSynthDeallocate, std::move(statement), command.name);
        dropped.tag = "DEALLOCATE";
        s.replies.expect(std::move(dropped));
        return;
      }
      break;  // a name of PREPARE's, or none: PostgreSQL's to answer
    case DeallocateCommand::Kind::kDiscardAll:
      // DISCARD ALL must reach PostgreSQL for the rest of what it resets. What follows it in
      // the pipeline must not rely on the server's statements, which it drops.
      answer.saved = std::make_shared<const ClientStatements>(s.client);
      s.client.clear();
      s.server.forget_all();
      break;
    case DeallocateCommand::Kind::kNone:
      break;
  }
  append_message(to_server, 'Q', body);
  s.replies.expect(std::move(answer));
}

void StatementRewriter::prepare_on_server(const StatementRef& statement, StatementSession& s,
                                          std::string& to_server, Expectation* answer) {
  std::vector<StatementRef>& stale = s.server.to_close();
  for (const StatementRef& old : stale) {
    if (!s.server.contains(old.get())) send_close(old, s, to_server);
  }
  stale.clear();
  if (StatementRef evicted = s.server.insert(statement)) send_close(evicted, s, to_server);
  std::size_t at = begin_message(to_server, 'P');
  util::ByteWriter w(to_server);
  w.cstring(statement->server_name);
  w.cstring(statement->query);
  w.raw(statement->param_types);
  finish_message(to_server, at);
  ++s.counters.server_parse_count;
  if (answer != nullptr) {
    s.replies.expect(std::move(*answer));
  } else {
    s.replies.expect(about(Expect::kHiddenParse, statement));
  }
}

void StatementRewriter::send_close(const StatementRef& statement, StatementSession& s,
                                   std::string& to_server) {
  std::size_t at = begin_message(to_server, 'C');
  util::ByteWriter w(to_server);
  w.u8('S');
  w.cstring(statement->server_name);
  finish_message(to_server, at);
  s.replies.expect(about(Expect::kHiddenClose, statement));
}

}  // namespace pooler::protocol
