// The server-to-client half of prepared-statement pooling: hides the pooler's own ParseComplete
// and CloseComplete, makes up the answers to requests the server never saw, and after an error
// forgets what PostgreSQL skipped until Sync.
#include "pooler/protocol/reply_filter.hpp"

#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::protocol {

namespace {

std::string_view command_tag(util::Bytes command_complete_body) {
  std::string_view tag = util::as_chars(command_complete_body);
  if (!tag.empty() && tag.back() == '\0') tag.remove_suffix(1);
  return tag;
}

// Extended-protocol requests: an error ends them and PostgreSQL then skips all until Sync.
bool is_extended(char request) {
  return request == 'P' || request == 'B' || request == 'C' || request == 'D' || request == 'E';
}

// Whether `reply` is the last one PostgreSQL sends for `request` (errors aside).
bool ends(char request, char reply) {
  switch (request) {
    case 'P':
      return reply == '1';
    case 'B':
      return reply == '2';
    case 'C':
      return reply == '3';
    case 'D':
      return reply == 'T' || reply == 'n';
    case 'E':
      return reply == 'C' || reply == 'I' || reply == 's';
    case 'S':
    case 'Q':
    case 'F':
      return reply == 'Z';
    default:
      return true;
  }
}

// NoticeResponse, ParameterStatus, NotificationResponse: any time, part of no request.
bool is_asynchronous(char reply) {
  return reply == 'N' || reply == 'S' || reply == 'A';
}

void append_simple(std::string& out, char type) {
  finish_message(out, begin_message(out, type));
}

}  // namespace

bool drops_all_statements(util::Bytes command_complete_body) {
  std::string_view tag = command_tag(command_complete_body);
  return tag == "DISCARD ALL" || tag == "DEALLOCATE ALL";
}

bool resets_all_settings(util::Bytes command_complete_body) {
  // RESET ALL's tag is a plain "RESET", the same as one setting's: only DISCARD ALL tells.
  return command_tag(command_complete_body) == "DISCARD ALL";
}

bool ends_with_ready_for_query(std::string_view made_up) {
  constexpr std::size_t kReadyForQuerySize = 6;  // 'Z', length 5, status
  return made_up.size() >= kReadyForQuerySize &&
         made_up[made_up.size() - kReadyForQuerySize] == 'Z';
}

void ReplyFilter::expect(Expectation e) {
  if (head_ == entries_.size()) {
    entries_.clear();
    head_ = 0;
  }
  entries_.push_back(std::move(e));
}

void ReplyFilter::pop() {
  Entry& e = entries_[head_];
  e.statement.reset();
  e.previous.reset();
  e.saved.reset();
  if (++head_ == entries_.size()) {
    entries_.clear();
    head_ = 0;
  }
}

bool ReplyFilter::on_server_message(char type, util::Bytes body, StatementState state,
                                    std::string& after) {
  emit_ready(state, after);
  bool forward = true;
  if (type == 'Z' && !body.empty()) status_ = static_cast<char>(body[0]);
  if (is_asynchronous(type) || head_ == entries_.size()) return true;
  Entry& head = entries_[head_];
  switch (head.what) {
    case Expect::kHiddenParse:
    case Expect::kHiddenClose:
      if (type == 'E') {
        // The failed request is undone with those PostgreSQL now skips (emit_ready).
        skipping_ = true;
      } else if (type == (head.what == Expect::kHiddenParse ? '1' : '3')) {
        forward = false;
        pop();
      }
      break;
    case Expect::kForward:
      if (type == 'E' && is_extended(head.request)) {
        skipping_ = true;
        break;
      }
      // A DISCARD ALL refused (inside a transaction block) cleared nothing.
      if (type == 'E' && head.saved) state.client = *head.saved;
      // Other ways to drop them all (in a multi-statement query, through the extended protocol):
      // the rewriter could not see them coming. (A DISCARD ALL it saw carries `saved`.)
      if (type == 'C' && drops_all_statements(body) && !head.saved) {
        state.server.clear();
        // Parses still in flight behind this request run after it: their statements will be
        // there again.
        for (std::size_t i = head_ + 1; i < entries_.size(); ++i) {
          const Entry& e = entries_[i];
          bool parses = e.what == Expect::kHiddenParse ||
                        (e.what == Expect::kForward && e.request == 'P' && e.statement);
          if (parses) state.server.insert(e.statement);
        }
      }
      if (ends(head.request, type)) {
        if (type == 'Z') skipping_ = false;
        pop();
      }
      break;
    default:
      // Made-up answers never stay at the head (emit_ready); a reply here belongs to no request.
      break;
  }
  emit_ready(state, after);
  return forward;
}

void ReplyFilter::emit_ready(StatementState state, std::string& out) {
  if (skipping_) {
    // PostgreSQL answers nothing more until the Sync, which it answers. What recording these
    // requests assumed is undone newest first, so a Close after a Parse of the same name
    // unwinds to before both.
    std::size_t end = head_;
    while (end < entries_.size() &&
           !(entries_[end].what == Expect::kForward && entries_[end].request == 'S')) {
      ++end;
    }
    for (std::size_t i = end; i > head_; --i) undo_skipped(entries_[i - 1], state);
    for (std::size_t n = end - head_; n > 0; --n) pop();
  }
  while (head_ < entries_.size()) {
    Entry& head = entries_[head_];
    if (head.what == Expect::kForward || head.what == Expect::kHiddenParse ||
        head.what == Expect::kHiddenClose) {
      return;
    }
    emit(head, state, out);
    pop();
  }
}

void ReplyFilter::undo_skipped(Entry& entry, StatementState state) {
  switch (entry.what) {
    case Expect::kForward:
      if (entry.saved) state.client = *entry.saved;
      if (entry.request != 'P' || !entry.statement) break;
      state.server.erase(entry.statement.get());
      [[fallthrough]];
    case Expect::kSynthParse:
      if (const StatementRef* now = state.client.find(entry.client_name);
          now != nullptr && now->get() == entry.statement.get()) {
        if (entry.previous) {
          state.client.set(entry.client_name, entry.previous);
        } else {
          state.client.erase(entry.client_name);
        }
      }
      break;
    case Expect::kHiddenParse:
      state.server.erase(entry.statement.get());
      break;
    case Expect::kHiddenClose:
      state.server.close_later(entry.statement);
      break;
    case Expect::kSynthClose:
    case Expect::kSynthDeallocate:
      if (entry.saved) {
        state.client = *entry.saved;
      } else if (entry.statement && state.client.find(entry.client_name) == nullptr) {
        state.client.set(entry.client_name, entry.statement);
      }
      break;
  }
}

void ReplyFilter::emit(const Entry& entry, StatementState state, std::string& out) {
  switch (entry.what) {
    case Expect::kSynthParse:
      append_simple(out, '1');
      break;
    case Expect::kSynthClose:
      append_simple(out, '3');
      break;
    case Expect::kSynthDeallocate: {
      // A simple query in a failed transaction is refused, as PostgreSQL would.
      if (status_ == 'E') {
        if (entry.saved) state.client = *entry.saved;
        append_error(out, ErrorSeverity::kError, sqlstate::kInFailedSqlTransaction,
                     "current transaction is aborted, commands ignored until end of "
                     "transaction block");
      } else {
        std::size_t at = begin_message(out, 'C');
        util::ByteWriter(out).cstring(entry.tag);
        finish_message(out, at);
      }
      append_ready_for_query(out, status_);
      break;
    }
    default:
      break;
  }
}

}  // namespace pooler::protocol
