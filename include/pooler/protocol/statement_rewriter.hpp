// StatementRewriter: the client-to-server half of prepared-statement pooling. Each client message
// (framed by the caller) becomes what its server must receive, under the pooler's statement
// names, and leaves in the ReplyFilter what the replies must become.
#pragma once

#include <string>
#include <string_view>

#include "pooler/protocol/prepared_statements.hpp"
#include "pooler/protocol/reply_filter.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

// Everything one client message touches: the client's names, the server it holds now with its
// reply filter, and the pool's counters.
struct StatementSession {
  ClientStatements& client;
  ServerStatements& server;
  ReplyFilter& replies;
  PreparedCounters& counters;
};

class StatementRewriter {
 public:
  explicit StatementRewriter(StatementCatalog& catalog) : catalog_(catalog) {}

  // One whole client message (type and body). Appends whole messages to `to_server`, and to
  // `to_client` the made-up answers that can go at once. With tracking off (the server's
  // capacity is 0) the message is passed on untouched and nothing is recorded.
  void on_client_message(char type, util::Bytes body, StatementSession session,
                         std::string& to_server, std::string& to_client);

 private:
  void on_parse(util::Bytes body, StatementSession& s, std::string& to_server);
  // Bind (name after the portal) and Describe/Close of a statement: `name_at` is where the
  // statement name starts in the body.
  void on_named_use(char type, util::Bytes body, std::size_t name_at, StatementSession& s,
                    std::string& to_server);
  void on_close(util::Bytes body, StatementSession& s, std::string& to_server);
  void on_query(util::Bytes body, StatementSession& s, std::string& to_server);
  // Makes sure the server holds `statement`: a Parse under its server name (and the Closes an
  // eviction needs) goes first, their answers hidden unless `answer` is given (the client's own
  // Parse, forwarded: its ParseComplete is the client's).
  void prepare_on_server(const StatementRef& statement, StatementSession& s, std::string& to_server,
                         Expectation* answer);
  void send_close(const StatementRef& statement, StatementSession& s, std::string& to_server);

  StatementCatalog& catalog_;
};

// What a simple Query means for the client's names, when it is one of the statements the pooler
// answers or follows (case-insensitive, optional trailing semicolon and blanks).
struct DeallocateCommand {
  enum class Kind { kNone, kDeallocateAll, kDeallocateName, kDiscardAll };
  Kind kind = Kind::kNone;
  std::string name;  // kDeallocateName: the identifier as PostgreSQL folds it
};
DeallocateCommand parse_deallocate(std::string_view sql);

}  // namespace pooler::protocol
