// constant_time_equal: the answer must be right whatever the inputs' lengths and contents.
#include "pooler/util/secure.hpp"

#include <doctest/doctest.h>

#include <string>

using pooler::util::constant_time_equal;
using namespace std::string_view_literals;

TEST_CASE("constant_time_equal is true for identical inputs") {
  CHECK(constant_time_equal("secret", "secret"));
  CHECK(constant_time_equal("a\0b"sv, "a\0b"sv));
}

TEST_CASE("constant_time_equal is false when the first byte differs") {
  CHECK_FALSE(constant_time_equal("secret", "Secret"));
}

TEST_CASE("constant_time_equal is false when only the last byte differs") {
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("a\0b"sv, "a\0c"sv));
}

TEST_CASE("constant_time_equal is false when one input is a prefix of the other") {
  CHECK_FALSE(constant_time_equal("secret", "secrets"));
  CHECK_FALSE(constant_time_equal("secrets", "secret"));
  // Trailing zero bytes must not pass for absent ones.
  CHECK_FALSE(constant_time_equal("ab", "ab\0"sv));
}

TEST_CASE("constant_time_equal treats two empty inputs as equal and empty as unequal to data") {
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK_FALSE(constant_time_equal("x", ""));
}

TEST_CASE("constant_time_equal compares bytes with the high bit set") {
  std::string a(32, '\xff');
  std::string b = a;
  CHECK(constant_time_equal(a, b));
  b[31] = '\x7f';
  CHECK_FALSE(constant_time_equal(a, b));
}
