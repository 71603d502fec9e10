// The auth_query request and the reader of its answer.
#include "pooler/backend/auth_query.hpp"

#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/message_builder.hpp"

namespace pooler::backend {

namespace {

// A user name and a secret fit in far less; a larger answer is not one auth_query gives.
constexpr std::size_t kMaxAnswerMessage = 64 * 1024;

}  // namespace

std::string auth_query_request(std::string_view query, std::string_view user) {
  std::string out;
  auto at = protocol::begin_message(out, 'P');
  util::ByteWriter w(out);
  w.cstring("");  // unnamed statement
  w.cstring(query);
  w.i16(0);  // parameter types left to the server
  protocol::finish_message(out, at);

  at = protocol::begin_message(out, 'B');
  w.cstring("");  // unnamed portal
  w.cstring("");
  w.i16(0);  // parameters in text
  w.i16(1);
  w.i32(static_cast<std::int32_t>(user.size()));
  w.raw(user);
  w.i16(0);  // results in text
  protocol::finish_message(out, at);

  at = protocol::begin_message(out, 'E');
  w.cstring("");
  w.i32(0);  // all rows (more than one is refused when read)
  protocol::finish_message(out, at);

  at = protocol::begin_message(out, 'S');
  protocol::finish_message(out, at);
  return out;
}

AuthQueryReply::Status AuthQueryReply::feed(util::Bytes data) {
  if (done_) return Status::kDone;
  pending_.append(reinterpret_cast<const char*>(data.data()), data.size());
  std::size_t consumed = 0;
  while (!done_) {
    auto frame = protocol::frame_typed(util::as_bytes(pending_).subspan(consumed),
                                       kMaxAnswerMessage);
    if (frame.malformed()) {
      // Nothing after it can be framed: the connection is unusable, and its owner closes it.
      fail("malformed answer: " + frame.error);
      done_ = true;
      break;
    }
    if (!frame.complete()) break;
    consumed += frame.size;
    read_message(frame.type, frame.body);
  }
  pending_.erase(0, consumed);
  return done_ ? Status::kDone : Status::kNeedMore;
}

void AuthQueryReply::read_message(char type, util::Bytes body) {
  switch (type) {
    case 'D': {
      if (seen_row_) {
        fail("auth_query returned more than one row");
        return;
      }
      seen_row_ = true;
      util::ByteReader r(body);
      auto columns = r.i16();
      if (!columns || *columns < 2) {
        fail("auth_query must return two columns (user name, secret)");
        return;
      }
      // The secret is the second column; the first (the user name) is not needed.
      for (int column = 0; column < 2; ++column) {
        auto length = r.i32();
        if (!length) break;
        if (*length < 0) {
          if (column == 1) answer_ = {AuthQueryAnswer::Kind::kNoSecret, {}, {}};
          continue;
        }
        auto value = r.bytes(static_cast<std::size_t>(*length));
        if (!value) break;
        if (column == 1) {
          answer_ = {AuthQueryAnswer::Kind::kSecret, std::string(util::as_chars(*value)), {}};
        }
      }
      if (r.failed()) fail("malformed DataRow in the answer to auth_query");
      return;
    }
    case 'E':
      fail(protocol::parse_error_fields(body).message);
      return;
    case 'C':
      if (!seen_row_) answer_ = {AuthQueryAnswer::Kind::kNoRow, {}, {}};
      return;
    case 'Z':
      done_ = true;
      return;
    default:
      // ParseComplete, BindComplete, NoticeResponse, ParameterStatus: nothing to take.
      return;
  }
}

void AuthQueryReply::fail(std::string why) {
  if (failed_) return;  // the first problem is the one to report
  failed_ = true;
  answer_ = {AuthQueryAnswer::Kind::kError, {}, std::move(why)};
}

}  // namespace pooler::backend
