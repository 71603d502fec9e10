// Loading from disk: the config file, its auth_file and %include, with OS errors named.
#include <doctest/doctest.h>

#include "config_test_support.hpp"
#include "pooler/config/loader.hpp"

namespace pooler::config {
namespace {

using testing::only;
using testing::render;
using testing::ScratchDir;

TEST_CASE("load_config_file reads the config and its auth_file") {
  ScratchDir dir;
  std::string users =
      dir.write("userlist.txt", "\"alice\" \"md5a3556571e93b0d20722ba62be61e8c2d\"\n");
  std::string ini = dir.write("pooler.ini", "[pooler]\nauth_type = md5\nauth_file = " + users +
                                                "\n[databases]\napp = host=127.0.0.1\n");
  LoadResult result = load_config_file(ini);
  INFO(render(result.diagnostics));
  CHECK(result.diagnostics.empty());
  CHECK(result.config.path == ini);
  REQUIRE(result.config.find_secret("alice") != nullptr);
  CHECK(result.config.find_secret("alice")->secret == "md5a3556571e93b0d20722ba62be61e8c2d");
  CHECK(result.config.find_secret("bob") == nullptr);
}

TEST_CASE("an unreadable config file is an error naming it and the OS reason") {
  ScratchDir dir;
  LoadResult result = load_config_file(dir.path("missing.ini"));
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kError);
  CHECK(d.file == dir.path("missing.ini"));
  CHECK(d.message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("an unreadable auth_file is an error at the line that set it") {
  ScratchDir dir;
  std::string ini = dir.write("pooler.ini", "[pooler]\nauth_type = scram-sha-256\n\nauth_file = " +
                                                dir.path("nope.txt") + "\n");
  LoadResult result = load_config_file(ini);
  Diagnostic d = only(result.diagnostics);
  CHECK(d.severity == Severity::kError);
  CHECK(d.file == ini);
  CHECK(d.line == 4);
  CHECK(d.key == "auth_file");
  CHECK(d.message.find(dir.path("nope.txt")) != std::string::npos);
  CHECK(d.message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("auth_file problems name the auth_file and its line") {
  ScratchDir dir;
  std::string users = dir.write("userlist.txt", "\"ok\" \"fine\"\nbroken line\n");
  std::string ini =
      dir.write("pooler.ini", "[pooler]\nauth_type = plain\nauth_file = " + users + "\n");
  Diagnostic d = only(load_config_file(ini).diagnostics);
  CHECK(d.file == users);
  CHECK(d.line == 2);
}

TEST_CASE("%include reads another file in place; its diagnostics name that file") {
  ScratchDir dir;
  std::string databases = dir.write("databases.ini",
                                    "[databases]\napp = host=127.0.0.1\n"
                                    "[pooler]\nlisten_prot = 1\n");
  std::string ini = dir.write("pooler.ini", "[pooler]\nauth_type = trust\n%include " + databases +
                                                "\nlisten_port = 7100\n");
  LoadResult result = load_config_file(ini);
  Diagnostic d = only(result.diagnostics);
  CHECK(d.file == databases);
  CHECK(d.line == 4);
  CHECK(d.key == "listen_prot");
  CHECK(result.config.databases.count("app") == 1);
  // The included file switched back to [pooler], so the including file's next key lands there.
  CHECK(result.config.settings.listen_port == 7100);
  // config_watch watches it with the ini.
  CHECK(result.config.included_files == std::vector<std::string>{databases});
}

TEST_CASE("a missing %include file is an error at the %include line") {
  ScratchDir dir;
  std::string ini = dir.write(
      "pooler.ini", "[pooler]\nauth_type = trust\n%include " + dir.path("absent.ini") + "\n");
  Diagnostic d = only(load_config_file(ini).diagnostics);
  CHECK(d.file == ini);
  CHECK(d.line == 3);
  CHECK(d.message.find("cannot read included file") == 0);
  // Watched all the same: it may appear later.
  CHECK(load_config_file(ini).config.included_files ==
        std::vector<std::string>{dir.path("absent.ini")});
}

TEST_CASE("an %include loop stops at the depth limit with an error") {
  ScratchDir dir;
  std::string loop = dir.path("loop.ini");
  dir.write("loop.ini", "[pooler]\nauth_type = trust\n%include " + loop + "\n");
  LoadResult result = load_config_file(loop);
  Diagnostic d = only(result.diagnostics);
  CHECK(d.file == loop);
  CHECK(d.line == 3);
  CHECK(d.message.find("nested more than") != std::string::npos);
}

}  // namespace
}  // namespace pooler::config
