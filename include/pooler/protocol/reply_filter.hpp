// ReplyFilter: turns a server's replies into what the client would have had from a server of its
// own, following the queue of expectations the StatementRewriter leaves for each request sent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pooler/protocol/prepared_statements.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

// What one request's replies become. PostgreSQL answers requests in order, so the head of the
// queue is always the request whose replies arrive next; synthesized answers wait behind it.
enum class Expect : std::uint8_t {
  kForward,          // a request passed on: its replies go to the client up to its last one
  kHiddenParse,      // a Parse the pooler injected: ParseComplete dropped
  kHiddenClose,      // an eviction Close the pooler sent: CloseComplete dropped
  kSynthParse,       // a client Parse the server already had: ParseComplete made up
  kSynthClose,       // a client Close of its own name: CloseComplete made up
  kSynthDeallocate,  // a client's DEALLOCATE of names it prepared: CommandComplete and
                     // ReadyForQuery
};

// The state a reply may need to correct: the current client's names, its server's LRU.
struct StatementState {
  ClientStatements& client;
  ServerStatements& server;
};

// One request sent (or answered by the pooler), with what to undo should PostgreSQL skip or
// refuse it.
struct Expectation {
  Expect what = Expect::kForward;
  char request = 0;         // kForward: the frontend message type
  StatementRef statement;   // the statement a Parse or Close recorded
  std::string client_name;  // and the client's name for it
  StatementRef previous;    // what that name meant before a Parse replaced it
  std::string tag;          // kSynthDeallocate's command tag
  // DEALLOCATE ALL, DISCARD ALL: the client's names before they were cleared.
  std::shared_ptr<const ClientStatements> saved;
};

// A CommandComplete tag after which PostgreSQL holds no prepared statement (DISCARD ALL,
// DEALLOCATE ALL), however the command reached it.
bool drops_all_statements(util::Bytes command_complete_body);
// Whether a CommandComplete says every session setting went back to its default.
bool resets_all_settings(util::Bytes command_complete_body);

// Whether whole messages made up by the pooler end with a ReadyForQuery (which settles the
// client's request as a server's own would).
bool ends_with_ready_for_query(std::string_view made_up);

class ReplyFilter {
 public:
  void expect(Expectation e);

  // One whole server message. Returns whether to pass it to the client; `after` receives the
  // made-up messages that follow it.
  bool on_server_message(char type, util::Bytes body, StatementState state, std::string& after);

  // Emits the made-up answers now at the head of the queue (nothing from the server comes
  // before them). The rewriter calls this after each client message.
  void emit_ready(StatementState state, std::string& out);

  // Nothing in flight: every reply expected has come. A server is only handed on then.
  bool idle() const { return head_ == entries_.size() && !skipping_; }
  std::size_t pending() const { return entries_.size() - head_; }
  // After an extended-protocol error, until the Sync's ReadyForQuery.
  bool skipping() const { return skipping_; }
  // The status of the last ReadyForQuery, for made-up ones.
  char transaction_status() const { return status_; }

 private:
  using Entry = Expectation;

  void pop();
  // PostgreSQL skipped this request after an error: undo what recording it assumed.
  void undo_skipped(Entry& entry, StatementState state);
  void emit(const Entry& entry, StatementState state, std::string& out);

  // A vector used as a queue: it empties at every Sync in steady state, keeping its capacity.
  std::vector<Entry> entries_;
  std::size_t head_ = 0;
  bool skipping_ = false;
  char status_ = 'I';
};

}  // namespace pooler::protocol
