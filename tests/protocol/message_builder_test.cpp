// The messages the pooler composes, checked as exact wire bytes and by reading them back with
// the pooler's own decoders (framer, startup parser, ErrorResponse fields).
#include "pooler/protocol/message_builder.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "pooler/protocol/error_fields.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/startup.hpp"
#include "pooler/util/bytes.hpp"

using pooler::protocol::ErrorSeverity;
using pooler::protocol::frame_startup;
using pooler::protocol::frame_typed;
using pooler::protocol::parse_error_fields;
using pooler::protocol::parse_startup;
using pooler::protocol::quote_literal;
using pooler::util::as_bytes;
using pooler::util::as_chars;
using namespace std::string_view_literals;
namespace protocol = pooler::protocol;

namespace {

constexpr std::size_t kMaxPacket = 1 << 20;

}  // namespace

TEST_CASE("a FATAL ErrorResponse reads back with its severity, sqlstate and message") {
  std::string out;
  protocol::append_error(out, ErrorSeverity::kFatal, "28P01",
                         "password authentication failed for user \"alice\"");
  auto frame = frame_typed(as_bytes(out), kMaxPacket);
  REQUIRE(frame.complete());
  CHECK(frame.type == 'E');
  CHECK(frame.size == out.size());
  auto fields = parse_error_fields(frame.body);
  CHECK(fields.severity == "FATAL");
  CHECK(fields.sqlstate == "28P01");
  CHECK(fields.message == "password authentication failed for user \"alice\"");
}

TEST_CASE("an ERROR ErrorResponse reads back with severity ERROR") {
  std::string out;
  protocol::append_error(out, ErrorSeverity::kError, "57014", "canceling statement");
  auto frame = frame_typed(as_bytes(out), kMaxPacket);
  REQUIRE(frame.complete());
  auto fields = parse_error_fields(frame.body);
  CHECK(fields.severity == "ERROR");
  CHECK(fields.sqlstate == "57014");
  CHECK(fields.message == "canceling statement");
}

TEST_CASE("an ErrorResponse carries a DETAIL only when it is given one") {
  std::string with_detail;
  protocol::append_error(with_detail, ErrorSeverity::kError, "F0000", "RELOAD failed",
                         "pooler.ini:3: error: bad value");
  auto frame = frame_typed(as_bytes(with_detail), kMaxPacket);
  REQUIRE(frame.complete());
  std::string_view body = as_chars(frame.body);
  CHECK(body.find("Dpooler.ini:3: error: bad value\0"sv) != std::string_view::npos);
  CHECK(parse_error_fields(frame.body).message == "RELOAD failed");
  std::string without;
  protocol::append_error(without, ErrorSeverity::kError, "F0000", "RELOAD failed");
  // Each field follows the NUL that ends the one before it.
  CHECK(as_chars(frame_typed(as_bytes(without), kMaxPacket).body).find("\0D"sv) ==
        std::string_view::npos);
}

TEST_CASE("an ErrorResponse carries both the localized S and the untranslated V severity") {
  std::string out;
  protocol::append_error(out, ErrorSeverity::kFatal, "08P01", "bad");
  auto frame = frame_typed(as_bytes(out), kMaxPacket);
  REQUIRE(frame.complete());
  std::string_view body = as_chars(frame.body);
  CHECK(body.find("SFATAL\0"sv) != std::string_view::npos);
  CHECK(body.find("VFATAL\0"sv) != std::string_view::npos);
  CHECK(body.back() == '\0');
}

TEST_CASE("a NoticeResponse reads back as NOTICE with sqlstate 00000") {
  std::string out;
  protocol::append_notice(out, "pooler is reloading");
  auto frame = frame_typed(as_bytes(out), kMaxPacket);
  REQUIRE(frame.complete());
  CHECK(frame.type == 'N');
  auto fields = parse_error_fields(frame.body);
  CHECK(fields.severity == "NOTICE");
  CHECK(fields.sqlstate == "00000");
  CHECK(fields.message == "pooler is reloading");
}

TEST_CASE("error fields prefer the untranslated V severity over a localized S") {
  auto fields = parse_error_fields(as_bytes("SFEHLER\0VERROR\0C42601\0MSyntaxfehler\0\0"sv));
  CHECK(fields.severity == "ERROR");
  CHECK(fields.sqlstate == "42601");
  CHECK(fields.message == "Syntaxfehler");
  fields = parse_error_fields(as_bytes("VERROR\0SFEHLER\0\0"sv));
  CHECK(fields.severity == "ERROR");
}

TEST_CASE("error fields fall back to S when a server sends no V") {
  auto fields = parse_error_fields(as_bytes("SERROR\0C0A000\0\0"sv));
  CHECK(fields.severity == "ERROR");
  CHECK(fields.sqlstate == "0A000");
  CHECK(fields.message.empty());
}

TEST_CASE("error fields stop at an unterminated field and keep what came before") {
  auto fields = parse_error_fields(as_bytes("C53300\0Mtoo many"sv));
  CHECK(fields.sqlstate == "53300");
  CHECK(fields.message.empty());
}

TEST_CASE("ReadyForQuery is exactly Z, length 5, status") {
  std::string out;
  protocol::append_ready_for_query(out, 'I');
  CHECK(out == "Z\0\0\0\5I"sv);
  out.clear();
  protocol::append_ready_for_query(out, 'T');
  CHECK(out == "Z\0\0\0\5T"sv);
}

TEST_CASE("BackendKeyData is K, length 12, pid and key big-endian") {
  std::string out;
  protocol::append_backend_key_data(out, 0x01020304, -2);
  CHECK(out == "K\0\0\0\x0c\x01\x02\x03\x04\xff\xff\xff\xfe"sv);
}

TEST_CASE("builders append after what the buffer already holds") {
  std::string out = "prefix";
  protocol::append_ready_for_query(out, 'E');
  CHECK(out == "prefixZ\0\0\0\5E"sv);
}

TEST_CASE("authentication requests carry their codes and payloads") {
  std::string out;
  protocol::append_auth_ok(out);
  CHECK(out == "R\0\0\0\x08\0\0\0\0"sv);
  out.clear();
  protocol::append_auth_cleartext(out);
  CHECK(out == "R\0\0\0\x08\0\0\0\x03"sv);
  out.clear();
  protocol::append_auth_md5(out, {0xde, 0xad, 0xbe, 0xef});
  CHECK(out == "R\0\0\0\x0c\0\0\0\x05\xde\xad\xbe\xef"sv);
  out.clear();
  protocol::append_auth_sasl(out, "SCRAM-SHA-256");
  CHECK(out == "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"sv);
  out.clear();
  protocol::append_auth_sasl_continue(out, "r=abc");
  CHECK(out == "R\0\0\0\x0d\0\0\0\x0br=abc"sv);
  out.clear();
  protocol::append_auth_sasl_final(out, "v=xyz");
  CHECK(out == "R\0\0\0\x0d\0\0\0\x0cv=xyz"sv);
}

TEST_CASE("AuthenticationSASL lists several mechanisms in order, then an empty name") {
  std::string out;
  protocol::append_auth_sasl(out, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  CHECK(out == "R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"sv);
}

TEST_CASE("ParameterStatus is S, length, name and value as C strings") {
  std::string out;
  protocol::append_parameter_status(out, "TimeZone", "UTC");
  CHECK(out == "S\0\0\0\x11TimeZone\0UTC\0"sv);
}

TEST_CASE("frontend messages the pooler sends to PostgreSQL have their exact layouts") {
  std::string out;
  protocol::append_query(out, "DISCARD ALL");
  CHECK(out ==
        "Q\0\0\0\x10"
        "DISCARD ALL\0"sv);
  out.clear();
  protocol::append_terminate(out);
  CHECK(out == "X\0\0\0\x04"sv);
  out.clear();
  protocol::append_password(out, "secret");
  CHECK(out == "p\0\0\0\x0bsecret\0"sv);
  out.clear();
  protocol::append_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=x");
  CHECK(out ==
        "p\0\0\0\x1f"
        "SCRAM-SHA-256\0\0\0\0\x09n,,n=,r=x"sv);
  out.clear();
  protocol::append_sasl_response(out, "c=biws");
  CHECK(out ==
        "p\0\0\0\x0a"
        "c=biws"sv);
}

TEST_CASE("a startup message built by append_startup parses back with its parameters") {
  std::vector<std::pair<std::string, std::string>> params = {
      {"user", "alice"}, {"database", "shop"}, {"application_name", ""}, {"DateStyle", "ISO"}};
  std::string out;
  protocol::append_startup(out, params);
  CHECK(out.substr(4, 4) == "\0\3\0\0"sv);
  auto frame = frame_startup(as_bytes(out));
  REQUIRE(frame.complete());
  CHECK(frame.size == out.size());
  auto packet = parse_startup(frame.body);
  REQUIRE(std::holds_alternative<protocol::StartupMessage>(packet));
  CHECK(std::get<protocol::StartupMessage>(packet).parameters == params);
}

TEST_CASE("a startup message with no parameters parses back empty") {
  std::string out;
  protocol::append_startup(out, {});
  CHECK(out == "\0\0\0\x09\0\3\0\0\0"sv);
  auto frame = frame_startup(as_bytes(out));
  REQUIRE(frame.complete());
  auto packet = parse_startup(frame.body);
  REQUIRE(std::holds_alternative<protocol::StartupMessage>(packet));
  CHECK(std::get<protocol::StartupMessage>(packet).parameters.empty());
}

TEST_CASE("a CancelRequest built by append_cancel_request parses back with pid and key") {
  std::string out;
  protocol::append_cancel_request(out, 777, -99);
  CHECK(out.size() == 16);
  auto frame = frame_startup(as_bytes(out));
  REQUIRE(frame.complete());
  auto packet = parse_startup(frame.body);
  REQUIRE(std::holds_alternative<protocol::CancelRequest>(packet));
  CHECK(std::get<protocol::CancelRequest>(packet).pid == 777);
  CHECK(std::get<protocol::CancelRequest>(packet).key == -99);
}

TEST_CASE("quote_literal E-quotes and doubles single quotes and backslashes") {
  CHECK(quote_literal("") == "E''");
  CHECK(quote_literal("UTF8") == "E'UTF8'");
  CHECK(quote_literal("it's") == "E'it''s'");
  CHECK(quote_literal("a\\b") == "E'a\\\\b'");
  CHECK(quote_literal("\\'; DROP TABLE x; --") == "E'\\\\''; DROP TABLE x; --'");
  CHECK(quote_literal("ISO, MDY") == "E'ISO, MDY'");
}
