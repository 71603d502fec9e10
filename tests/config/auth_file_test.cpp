// auth_file (PgBouncer's userlist.txt): quoted fields, secrets kept exact and never echoed.
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"

namespace pooler::config {
namespace {

using testing::render;

constexpr const char* kScram =
    "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$"
    "8Dt2N3Vy0oqQ7hAtNvIIXk+Gf2v2LDh5VPp25TBGc2k=:"
    "ZP0Zu7IwbtRtpbyvlSGjgkH0DYzGbKp9HnlPS1bTlMQ=";

TEST_CASE("auth_file lines give user and secret; comments and blank lines are skipped") {
  std::vector<Diagnostic> diagnostics;
  std::string text = std::string(
                         "; PgBouncer userlist\n"
                         "# another comment\n"
                         "\n"
                         "\"alice\" \"md5a3556571e93b0d20722ba62be61e8c2d\"\n"
                         "\"bob\" \"") +
                     kScram +
                     "\"\n"
                     "\"carol\" \"plain pass\" \"extra\" fields ignored\n"
                     "  \"say \"\"hi\"\"\"   \"quote\"\"inside\"\n";
  auto users = parse_auth_file_text(text, "userlist.txt", diagnostics);
  INFO(render(diagnostics));
  CHECK(diagnostics.empty());
  REQUIRE(users.size() == 4);
  CHECK(users.at("alice").secret == "md5a3556571e93b0d20722ba62be61e8c2d");
  CHECK(users.at("bob").secret == kScram);
  CHECK(users.at("carol").secret == "plain pass");
  CHECK(users.at("say \"hi\"").secret == "quote\"inside");
  CHECK(users.at("alice").user == "alice");
}

TEST_CASE("a byte-order mark before the first auth_file line is skipped (found by fuzzing)") {
  std::vector<Diagnostic> diagnostics;
  auto users = parse_auth_file_text("\xEF\xBB\xBF\"alice\" \"pw\"\n\xEF\xBB\xBF; not first\n",
                                    "userlist.txt", diagnostics);
  CHECK(users.size() == 1);
  CHECK(users.at("alice").secret == "pw");
  REQUIRE(diagnostics.size() == 1);  // only the first line may start with one
  CHECK(diagnostics[0].line == 2);
  diagnostics.clear();
  parse_auth_file_text("\xEF\xBB\xBF; userlist.txt\n", "userlist.txt", diagnostics);
  CHECK(diagnostics.empty());
}

TEST_CASE("malformed auth_file lines are errors naming file and line, never the secret") {
  std::vector<Diagnostic> diagnostics;
  auto users = parse_auth_file_text(
      "\"good\" \"fine\"\n"
      "alice s3cret-one\n"
      "\"bob\" \"s3cret-two\n"
      "\"carol\" s3cret-three\n"
      "\"dave\n"
      "\"\" \"s3cret-four\"\n",
      "/etc/pooler/userlist.txt", diagnostics);
  CHECK(users.size() == 1);
  REQUIRE(diagnostics.size() == 5);
  for (std::size_t i = 0; i < diagnostics.size(); ++i) {
    CAPTURE(i);
    CHECK(diagnostics[i].severity == Severity::kError);
    CHECK(diagnostics[i].file == "/etc/pooler/userlist.txt");
    CHECK(diagnostics[i].line == static_cast<int>(i) + 2);
  }
  CHECK(diagnostics[1].message == "user \"bob\": unterminated quoted password");
  CHECK(diagnostics[2].message == "user \"carol\": expected a double-quoted password");
  CHECK(render(diagnostics).find("s3cret") == std::string::npos);
}

TEST_CASE("a malformed SCRAM verifier warns without showing it") {
  std::vector<Diagnostic> diagnostics;
  auto users =
      parse_auth_file_text("\"eve\" \"SCRAM-SHA-256$notanumber:salt$key\"\n", "u.txt", diagnostics);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].severity == Severity::kWarning);
  CHECK(diagnostics[0].line == 1);
  CHECK(render(diagnostics).find("notanumber") == std::string::npos);
  CHECK(users.count("eve") == 1);
}

TEST_CASE("a user listed twice warns and the later line wins") {
  std::vector<Diagnostic> diagnostics;
  auto users = parse_auth_file_text("\"a\" \"one\"\n\"a\" \"two\"\n", "u.txt", diagnostics);
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].severity == Severity::kWarning);
  CHECK(diagnostics[0].line == 2);
  CHECK(users.at("a").secret == "two");
}

}  // namespace
}  // namespace pooler::config
