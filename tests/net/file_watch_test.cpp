// FileWatch on a real loop and a real directory: a replaced file and a swapped symlink are
// reported once each; an unrelated file in the same directory is not reported.
#include "pooler/net/file_watch.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "pooler/net/timer.hpp"

namespace pooler::net {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/pooler-watch-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path + "/" + name) << text;
    return path + "/" + name;
  }
};

// Runs the loop until `done` or about two seconds have passed.
void run_until(Loop& loop, const bool& done) {
  int ticks = 0;
  Timer tick(loop, [&] {
    if (done || ++ticks > 40) loop.stop();
  });
  tick.start(std::chrono::milliseconds(50));
  loop.run();
}

TEST_CASE("a file replaced by rename is reported once, an unrelated one never") {
  TempDir dir;
  std::string ini = dir.write("pooler.ini", "a\n");
  Loop loop;
  std::vector<std::vector<std::string>> reports;
  bool done = false;
  FileWatch watch(loop, std::chrono::milliseconds(50), [&](const std::vector<std::string>& p) {
    reports.push_back(p);
    done = true;
  });
  CHECK(watch.watch({ini, ""}).empty());
  dir.write("unrelated.log", "noise\n");
  std::string next = dir.write("pooler.ini.new", "b\n");
  REQUIRE(std::rename(next.c_str(), ini.c_str()) == 0);
  run_until(loop, done);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0] == std::vector<std::string>{ini});
}

TEST_CASE("a swapped ..data symlink, as the kubelet updates a ConfigMap, is reported") {
  TempDir dir;
  ::mkdir((dir.path + "/..v1").c_str(), 0755);
  ::mkdir((dir.path + "/..v2").c_str(), 0755);
  dir.write("..v1/pooler.ini", "a\n");
  dir.write("..v2/pooler.ini", "b\n");
  REQUIRE(::symlink("..v1", (dir.path + "/..data").c_str()) == 0);
  REQUIRE(::symlink("..data/pooler.ini", (dir.path + "/pooler.ini").c_str()) == 0);
  Loop loop;
  int reports = 0;
  bool done = false;
  FileWatch watch(loop, std::chrono::milliseconds(50), [&](const std::vector<std::string>&) {
    ++reports;
    done = true;
  });
  CHECK(watch.watch({dir.path + "/pooler.ini"}).empty());
  REQUIRE(::symlink("..v2", (dir.path + "/..data_tmp").c_str()) == 0);
  REQUIRE(std::rename((dir.path + "/..data_tmp").c_str(), (dir.path + "/..data").c_str()) == 0);
  run_until(loop, done);
  CHECK(reports == 1);
}

TEST_CASE("a directory that cannot be watched is named") {
  Loop loop;
  FileWatch watch(loop, std::chrono::milliseconds(50), [](const std::vector<std::string>&) {});
  auto failed = watch.watch({"/no/such/dir/pooler.ini"});
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].rfind("/no/such/dir: ", 0) == 0);
}

}  // namespace
}  // namespace pooler::net
