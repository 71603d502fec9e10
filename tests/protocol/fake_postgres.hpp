// A model of how PostgreSQL answers the extended and simple protocol as far as prepared
// statements go, and a rig that runs clients through the rewriter and reply filter to one model
// server while each client also talks to a model server of its own: what the client gets through
// the pooler must match what it gets direct. Shared by the unit tests and prepared_fuzzer.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/prepared_statements.hpp"
#include "pooler/protocol/reply_filter.hpp"
#include "pooler/protocol/reply_splicer.hpp"
#include "pooler/protocol/statement_rewriter.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::testing {

struct WireMessage {
  char type = 0;
  std::string body;
};

// Splits whole messages; `ok` turns false on a partial or malformed one.
inline std::vector<WireMessage> split_messages(std::string_view bytes, bool& ok) {
  std::vector<WireMessage> out;
  util::Bytes rest = util::as_bytes(bytes);
  ok = true;
  while (!rest.empty()) {
    protocol::Frame f = protocol::frame_typed(rest, std::size_t{1} << 30);
    if (!f.complete()) {
      ok = false;
      break;
    }
    out.push_back({f.type, std::string(util::as_chars(f.body))});
    rest = rest.subspan(f.size);
  }
  return out;
}

// A reply in comparable form: its type, and for an ErrorResponse its SQLSTATE (the messages name
// the statements, which differ through the pooler).
inline std::string shape(const WireMessage& m) {
  if (m.type != 'E') return std::string(1, m.type);
  std::size_t at = m.body.find(std::string_view("\0C", 2));
  return "E" + (at == std::string::npos ? std::string() : m.body.substr(at + 2, 5));
}

inline std::string shapes(std::string_view bytes) {
  bool ok = true;
  std::string out;
  for (const WireMessage& m : split_messages(bytes, ok)) out += shape(m) + " ";
  return ok ? out : out + "<partial>";
}

class FakePostgres {
 public:
  // `replace_names`: a Parse of a name it holds replaces it, as the pooler lets a client do;
  // otherwise 42P05, as PostgreSQL does (the pooler's own names must never collide).
  explicit FakePostgres(bool replace_names) : replace_names_(replace_names) {}

  void on_message(char type, std::string_view body, std::string& out) {
    if (skipping_ && type != 'S') return;
    std::string_view name = first_cstring(body);
    switch (type) {
      case 'P': {
        std::string_view query = first_cstring(after(body, name.size() + 1));
        if (query.find("fail") != std::string_view::npos) return fail("42601", out);
        if (!name.empty() && statements_.contains(std::string(name)) && !replace_names_) {
          return fail("42P05", out);
        }
        if (!name.empty()) statements_.insert(std::string(name));
        return simple('1', out);
      }
      case 'B': {
        std::string_view statement = first_cstring(after(body, name.size() + 1));
        if (!statement.empty() && !statements_.contains(std::string(statement))) {
          return fail("26000", out);
        }
        return simple('2', out);
      }
      case 'D':
        if (body.starts_with('S')) {
          std::string_view statement = first_cstring(after(body, 1));
          if (!statement.empty() && !statements_.contains(std::string(statement))) {
            return fail("26000", out);
          }
          simple('t', out);
        }
        return simple('n', out);
      case 'E':
        return complete("SELECT 1", out);
      case 'C':
        if (body.starts_with('S')) statements_.erase(std::string(first_cstring(after(body, 1))));
        return simple('3', out);
      case 'S':
        skipping_ = false;
        return protocol::append_ready_for_query(out, 'I');
      case 'Q':
        return on_query(body, out);
      case 'F':
        simple('V', out);
        return protocol::append_ready_for_query(out, 'I');
      default:
        return;
    }
  }

  void on_bytes(std::string_view bytes, std::string& out) {
    bool ok = true;
    for (const WireMessage& m : split_messages(bytes, ok)) on_message(m.type, m.body, out);
  }

  const std::set<std::string>& statements() const { return statements_; }
  bool skipping() const { return skipping_; }

 private:
  static std::string_view first_cstring(std::string_view s) { return s.substr(0, s.find('\0')); }
  static std::string_view after(std::string_view s, std::size_t n) {
    return s.substr(std::min(n, s.size()));
  }
  static void simple(char type, std::string& out) {
    protocol::finish_message(out, protocol::begin_message(out, type));
  }
  static void complete(std::string_view tag, std::string& out) {
    std::size_t at = protocol::begin_message(out, 'C');
    util::ByteWriter(out).cstring(tag);
    protocol::finish_message(out, at);
  }
  void fail(const char* sqlstate, std::string& out) {
    protocol::append_error(out, protocol::ErrorSeverity::kError, sqlstate, "model error");
    skipping_ = true;
  }
  void on_query(std::string_view body, std::string& out) {
    using Kind = protocol::DeallocateCommand::Kind;
    protocol::DeallocateCommand command = protocol::parse_deallocate(body);
    if (command.kind == Kind::kDiscardAll || command.kind == Kind::kDeallocateAll) {
      statements_.clear();
      complete(command.kind == Kind::kDiscardAll ? "DISCARD ALL" : "DEALLOCATE ALL", out);
    } else if (command.kind == Kind::kDeallocateName) {
      if (statements_.erase(command.name) == 1) {
        complete("DEALLOCATE", out);
      } else {
        protocol::append_error(out, protocol::ErrorSeverity::kError, "26000", "model error");
      }
    } else if (first_cstring(body).find("fail") != std::string_view::npos) {
      protocol::append_error(out, protocol::ErrorSeverity::kError, "42601", "model error");
    } else {
      complete("SELECT 1", out);
    }
    protocol::append_ready_for_query(out, 'I');
  }

  bool replace_names_;
  bool skipping_ = false;
  std::set<std::string> statements_;
};

// Clients sharing one server connection through the rewriter and reply filter. Server replies are
// held until deliver(), so tests choose when they arrive.
class PoolRig {
 public:
  struct Client {
    protocol::ClientStatements names;
    FakePostgres direct{true};
    std::string through_pooler;  // what the client received via the pooler
    std::string expected;        // what it received from its own model server
  };

  PoolRig(std::size_t clients, std::size_t max_prepared)
      : clients_(clients), server_statements_(max_prepared) {}

  // One whole client message from client `c`.
  void send(std::size_t c, char type, std::string_view body) {
    Client& client = clients_[c];
    current_ = c;
    std::string to_server;
    rewriter_.on_client_message(type, util::as_bytes(body),
                                {client.names, server_statements_, replies_, counters_}, to_server,
                                client.through_pooler);
    sent_to_server += to_server;
    server_.on_bytes(to_server, pending_replies_);
    client.direct.on_message(type, body, client.expected);
  }

  // Hands the held server replies to the reply filter.
  void deliver() {
    Client& client = clients_[current_];
    bool ok = true;
    for (const WireMessage& m : split_messages(pending_replies_, ok)) {
      std::string after;
      if (replies_.on_server_message(m.type, util::as_bytes(m.body),
                                     {client.names, server_statements_}, after)) {
        std::size_t at = protocol::begin_message(client.through_pooler, m.type);
        client.through_pooler += m.body;
        protocol::finish_message(client.through_pooler, at);
      }
      client.through_pooler += after;
    }
    pending_replies_.clear();
  }

  // Hands the held replies over as a server connection reads them: `piece` bytes per read,
  // through a ReplySplicer, held-back bytes put in front of the next read. Returns whether the
  // last read ended with a ReadyForQuery.
  bool deliver_in_pieces(std::size_t piece) {
    Client& client = clients_[current_];
    protocol::MessageScanner scanner(std::size_t{1} << 30, "ZSEC");
    bool ends_ready = false;
    for (std::size_t at = 0; at < pending_replies_.size(); at += piece) {
      std::string read = splicer_.take_held();
      read += pending_replies_.substr(at, piece);
      auto spliced = splicer_.splice(util::as_bytes(read), scanner, replies_,
                                     {client.names, server_statements_}, [](char, util::Bytes) {});
      if (!spliced) return false;
      client.through_pooler += util::as_chars(spliced->out);
      ends_ready = spliced->ends_with_ready;
    }
    pending_replies_.clear();
    return ends_ready && !splicer_.holding();
  }

  // The clients move on to another server connection (as in transaction mode): fresh LRU,
  // filter and model server; the catalog and the clients' names stay.
  void new_server(std::size_t max_prepared) {
    server_statements_ = protocol::ServerStatements(max_prepared);
    replies_ = protocol::ReplyFilter();
    server_ = FakePostgres(false);
  }

  Client& client(std::size_t c) { return clients_[c]; }
  protocol::ServerStatements& server_statements() { return server_statements_; }
  FakePostgres& server() { return server_; }
  protocol::ReplyFilter& replies() { return replies_; }
  protocol::PreparedCounters& counters() { return counters_; }

  std::string sent_to_server;  // everything the pooler sent, for tests to read

 private:
  std::vector<Client> clients_;
  protocol::StatementCatalog catalog_;
  protocol::StatementRewriter rewriter_{catalog_};
  protocol::ServerStatements server_statements_;
  protocol::ReplyFilter replies_;
  protocol::ReplySplicer splicer_;
  protocol::PreparedCounters counters_;
  FakePostgres server_{false};
  std::string pending_replies_;
  std::size_t current_ = 0;
};

// Message bodies clients send.
inline std::string parse_body(std::string_view name, std::string_view query, int params = 0) {
  std::string out;
  util::ByteWriter w(out);
  w.cstring(name);
  w.cstring(query);
  w.i16(static_cast<std::int16_t>(params));
  for (int i = 0; i < params; ++i) w.i32(23);
  return out;
}

inline std::string bind_body(std::string_view statement, std::string_view portal = "") {
  std::string out;
  util::ByteWriter w(out);
  w.cstring(portal);
  w.cstring(statement);
  w.i16(0);
  w.i16(0);
  w.i16(0);
  return out;
}

inline std::string named_body(char kind, std::string_view name) {
  std::string out(1, kind);
  util::ByteWriter(out).cstring(name);
  return out;
}

inline std::string execute_body() {
  return std::string("\0\0\0\0\0", 5);
}

inline std::string query_body(std::string_view sql) {
  std::string out(sql);
  out.push_back('\0');
  return out;
}

}  // namespace pooler::testing
