// The auth_query exchange: the request binds the user name instead of splicing it into SQL, and
// the reader tells a secret, a NULL secret, no row and an error apart, however the bytes arrive.
#include "pooler/backend/auth_query.hpp"

#include <doctest/doctest.h>

#include <string>

#include "pooler/protocol/message_builder.hpp"
#include "pooler/util/bytes.hpp"

using pooler::backend::auth_query_request;
using pooler::backend::AuthQueryAnswer;
using pooler::backend::AuthQueryReply;
namespace util = pooler::util;
namespace protocol = pooler::protocol;

namespace {

std::string message(char type, const std::string& body) {
  std::string out;
  auto at = protocol::begin_message(out, type);
  out += body;
  protocol::finish_message(out, at);
  return out;
}

// A DataRow of text columns; nullptr is SQL NULL.
std::string data_row(std::initializer_list<const char*> columns) {
  std::string body;
  util::ByteWriter w(body);
  w.i16(static_cast<std::int16_t>(columns.size()));
  for (const char* column : columns) {
    if (column == nullptr) {
      w.i32(-1);
      continue;
    }
    w.i32(static_cast<std::int32_t>(std::string(column).size()));
    w.raw(std::string_view(column));
  }
  return message('D', body);
}

std::string answer_with(const std::string& rows, const std::string& tag = "SELECT 1") {
  std::string body = tag;
  body.push_back('\0');
  return message('1', "") + message('2', "") + message('T', std::string(2, '\0')) + rows +
         message('C', body) + message('Z', "I");
}

AuthQueryAnswer read_all(const std::string& bytes, std::size_t chunk) {
  AuthQueryReply reply;
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    auto status = reply.feed(util::as_bytes(std::string_view(bytes).substr(at, chunk)));
    if (status == AuthQueryReply::Status::kDone) {
      CHECK(at + chunk >= bytes.size());
      return reply.answer();
    }
  }
  FAIL("the reply never finished");
  return {};
}

}  // namespace

TEST_CASE("the auth_query request binds the user name as the only text parameter") {
  std::string request = auth_query_request("SELECT u, p FROM f($1)", "o'brien\"; DROP");
  // Parse, Bind, Execute, Sync in that order, and the query text is sent unchanged.
  CHECK(request[0] == 'P');
  CHECK(request.find("SELECT u, p FROM f($1)") != std::string::npos);
  std::size_t bind = request.find('B', 5);
  REQUIRE(bind != std::string::npos);
  CHECK(request.find("o'brien\"; DROP") > bind);
  CHECK(request.substr(request.size() - 5) == std::string("S\0\0\0\4", 5));
}

TEST_CASE("a row with a secret is read whole or one byte at a time") {
  std::string bytes = answer_with(data_row({"alice", "SCRAM-SHA-256$4096:c2FsdA==$a:b"}));
  for (std::size_t chunk : {bytes.size(), std::size_t{1}, std::size_t{7}}) {
    CAPTURE(chunk);
    AuthQueryAnswer answer = read_all(bytes, chunk);
    CHECK(answer.kind == AuthQueryAnswer::Kind::kSecret);
    CHECK(answer.secret == "SCRAM-SHA-256$4096:c2FsdA==$a:b");
  }
}

TEST_CASE("a NULL secret (rolvaliduntil passed) is no secret, not an empty one") {
  AuthQueryAnswer answer = read_all(answer_with(data_row({"bob", nullptr})), 3);
  CHECK(answer.kind == AuthQueryAnswer::Kind::kNoSecret);
}

TEST_CASE("no row means the user is not there") {
  AuthQueryAnswer answer = read_all(answer_with("", "SELECT 0"), 5);
  CHECK(answer.kind == AuthQueryAnswer::Kind::kNoRow);
}

TEST_CASE("an ErrorResponse becomes an error carrying PostgreSQL's message") {
  std::string error;
  protocol::append_error(error, protocol::ErrorSeverity::kError, "42501",
                         "permission denied for table pg_authid");
  AuthQueryAnswer answer = read_all(message('1', "") + error + message('Z', "I"), 4);
  CHECK(answer.kind == AuthQueryAnswer::Kind::kError);
  CHECK(answer.error == "permission denied for table pg_authid");
}

TEST_CASE("answers of the wrong shape are errors, never a secret") {
  SUBCASE("one column") {
    AuthQueryAnswer answer = read_all(answer_with(data_row({"alice"})), 64);
    CHECK(answer.kind == AuthQueryAnswer::Kind::kError);
  }
  SUBCASE("two rows") {
    AuthQueryAnswer answer =
        read_all(answer_with(data_row({"a", "md5x"}) + data_row({"a", "md5y"}), "SELECT 2"), 64);
    CHECK(answer.kind == AuthQueryAnswer::Kind::kError);
    CHECK(answer.error == "auth_query returned more than one row");
  }
  SUBCASE("a column longer than its row") {
    std::string row = data_row({"a", "md5x"});
    row[row.size() - 5] = 0x7f;  // the second column's length now runs past the message
    AuthQueryAnswer answer = read_all(answer_with(row), 64);
    CHECK(answer.kind == AuthQueryAnswer::Kind::kError);
  }
}

TEST_CASE("a message length no answer has ends the reply as an error") {
  AuthQueryReply reply;
  std::string bad = std::string("D") + std::string("\x7f\xff\xff\xff", 4);
  CHECK(reply.feed(util::as_bytes(bad)) == AuthQueryReply::Status::kDone);
  CHECK(reply.answer().kind == AuthQueryAnswer::Kind::kError);
}
