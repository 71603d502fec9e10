// etc/pooler.ini, the sample shipped to users: it parses cleanly and documents every key.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"
#include "pooler/config/schema.hpp"

namespace pooler::config {
namespace {

std::string sample_text() {
  std::filesystem::path path =
      std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "etc" / "pooler.ini";
  std::ifstream file(path);
  REQUIRE_MESSAGE(file.good(), "cannot open " << path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST_CASE("the sample config parses with no errors and no warnings") {
  LoadResult result = parse_config_text(sample_text(), "etc/pooler.ini");
  INFO(testing::render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  const Settings& s = result.config.settings;
  CHECK(s.listen_addr == "127.0.0.1");
  CHECK(s.listen_port == 6432);
  CHECK(s.auth_type == AuthType::kScramSha256);
  CHECK(s.auth_file == "/etc/pooler/userlist.txt");
  std::optional<DatabaseEntry> db = result.config.find_database("postgres");
  REQUIRE(db);
  CHECK(db->host == "127.0.0.1");
  CHECK(db->ports == std::vector<int>{5432});
  CHECK(result.config.users.empty());
}

TEST_CASE("the sample config documents every setting") {
  const std::string text = sample_text();
  for (const SettingRow& row : setting_rows()) {
    CAPTURE(row.key);
    std::string key(row.key);
    bool documented = text.find("\n;" + key + " =") != std::string::npos ||
                      text.find("\n" + key + " =") != std::string::npos;
    CHECK(documented);
  }
}

}  // namespace
}  // namespace pooler::config
