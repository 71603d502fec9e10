// md5 auth maths against PostgreSQL 15's own stored secret and an independent hashlib result.
#include "pooler/protocol/md5_password.hpp"

#include <doctest/doctest.h>

using pooler::protocol::is_md5_secret;
using pooler::protocol::md5_salted_response;
using pooler::protocol::md5_stored_secret;
using pooler::protocol::Md5Salt;

// From a PostgreSQL 15 server: SET password_encryption = 'md5'; CREATE ROLE alice PASSWORD
// 'pencil'; SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'.
constexpr const char* kPostgresAliceSecret = "md5ee69efad287c7423caf0b3229d71f567";

TEST_CASE("md5 stored secret equals the one PostgreSQL 15 stores for the same user and password") {
  CHECK(md5_stored_secret("pencil", "alice") == kPostgresAliceSecret);
}

TEST_CASE("md5 stored secret salts with the user name, so other users get other secrets") {
  CHECK(md5_stored_secret("pencil", "bob") != kPostgresAliceSecret);
  CHECK(is_md5_secret(md5_stored_secret("pencil", "bob")));
}

TEST_CASE("md5 salted response equals an independent computation") {
  // python3: "md5" + md5(b"ee69efad287c7423caf0b3229d71f567" + bytes([0x2a, 0x9f, 0x00, 0xe1]))
  Md5Salt salt{0x2a, 0x9f, 0x00, 0xe1};
  CHECK(md5_salted_response(kPostgresAliceSecret, salt) == "md58ef2afdaf83db6ae7e1a23e2a893aee5");
}

TEST_CASE("md5 salted response changes with the salt, so a captured answer cannot be replayed") {
  Md5Salt first{0x2a, 0x9f, 0x00, 0xe1};
  Md5Salt second{0x2a, 0x9f, 0x00, 0xe2};
  std::string a = md5_salted_response(kPostgresAliceSecret, first);
  std::string b = md5_salted_response(kPostgresAliceSecret, second);
  CHECK(a != b);
  CHECK(is_md5_secret(a));
  CHECK(is_md5_secret(b));
}

TEST_CASE("is_md5_secret accepts only md5 followed by 32 lowercase hex digits") {
  CHECK(is_md5_secret(kPostgresAliceSecret));
  CHECK_FALSE(is_md5_secret(""));
  CHECK_FALSE(is_md5_secret("md5"));
  CHECK_FALSE(is_md5_secret("pencil"));
  CHECK_FALSE(is_md5_secret("md5ee69efad287c7423caf0b3229d71f56"));
  CHECK_FALSE(is_md5_secret("md5ee69efad287c7423caf0b3229d71f5677"));
  CHECK_FALSE(is_md5_secret("md5EE69EFAD287C7423CAF0B3229D71F567"));
  CHECK_FALSE(is_md5_secret("md5ee69efad287c7423caf0b3229d71f56g"));
  CHECK_FALSE(is_md5_secret("MD5ee69efad287c7423caf0b3229d71f567"));
  CHECK_FALSE(is_md5_secret("SCRAM-SHA-256$4096:Gskltj/pGTZmkYYdcg8BoQ==$x:y"));
}
