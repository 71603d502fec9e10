// Console protocol handling: simple queries, and the extended protocol over one statement slot.
#include "pooler/frontend/console_session.hpp"

#include <utility>

#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace {

void append_empty(std::string& out, char type) {
  out.push_back(type);
  util::ByteWriter(out).i32(4);
}

// Splits result messages into the RowDescription (if any) and everything after it.
std::pair<std::string_view, std::string_view> split_description(const std::string& result) {
  auto frame = protocol::frame_typed(util::as_bytes(result), result.size() + 1);
  if (frame.complete() && frame.type == 'T') {
    std::string_view all(result);
    return {all.substr(0, frame.size), all.substr(frame.size)};
  }
  return {{}, result};
}

}  // namespace

std::string ConsoleSession::run(std::string_view statement) {
  ConsoleReply reply = console_.execute(statement, role_);
  if (reply.ready && !reply.ready()) until_ = std::move(reply.ready);
  return std::move(reply.messages);
}

const std::string& ConsoleSession::result() {
  if (!have_result_) {
    result_ = run(statement_);
    have_result_ = true;
  }
  return result_;
}

std::string ConsoleSession::poll() {
  if (!until_ || !until_()) return {};
  until_ = nullptr;
  return std::exchange(held_, {});
}

void ConsoleSession::fail_until_sync(std::string& out, const std::string& message) {
  protocol::append_error(out, protocol::ErrorSeverity::kError, protocol::sqlstate::kSyntaxError,
                         message);
  skipping_to_sync_ = true;
}

std::string ConsoleSession::handle(char type, util::Bytes body, bool& terminate) {
  std::string out = respond(type, body, terminate);
  if (!until_) return out;
  held_ += out;
  return {};
}

std::string ConsoleSession::respond(char type, util::Bytes body, bool& terminate) {
  std::string out;
  util::ByteReader r(body);
  if (skipping_to_sync_ && type != 'S' && type != 'X') return out;
  switch (type) {
    case 'Q': {
      auto sql = r.cstring();
      out = run(sql ? *sql : std::string_view());
      protocol::append_ready_for_query(out, 'I');
      break;
    }
    case 'P': {
      auto name = r.cstring();
      auto sql = r.cstring();
      if (!name || !sql) {
        fail_until_sync(out, "malformed Parse message");
        break;
      }
      statement_ = std::string(*sql);
      have_result_ = false;
      append_empty(out, '1');  // ParseComplete
      break;
    }
    case 'B':
      have_result_ = false;  // each Bind starts a new execution of the statement
      append_empty(out, '2');  // BindComplete
      break;
    case 'D': {
      auto kind = r.u8();
      if (kind && *kind == 'S') {
        out.push_back('t');  // ParameterDescription: no parameters
        util::ByteWriter w(out);
        w.i32(6);
        w.i16(0);
      }
      auto [description, rest] = split_description(result());
      if (!description.empty()) {
        out.append(description);
      } else if (!rest.empty() && rest.front() == 'E') {
        out.append(rest);
        skipping_to_sync_ = true;
      } else {
        append_empty(out, 'n');  // NoData
      }
      break;
    }
    case 'E': {
      auto [description, rest] = split_description(result());
      out.append(rest);
      have_result_ = false;
      if (!rest.empty() && rest.front() == 'E') skipping_to_sync_ = true;
      break;
    }
    case 'C':
      append_empty(out, '3');  // CloseComplete
      break;
    case 'H':
      break;
    case 'S':
      skipping_to_sync_ = false;
      protocol::append_ready_for_query(out, 'I');
      break;
    case 'X':
      terminate = true;
      break;
    default:
      fail_until_sync(out, std::string("unsupported message type in the admin console: ") + type);
      break;
  }
  return out;
}

}  // namespace pooler::frontend
