// The pidfile, read and written with plain stdio: it is touched only at start and exit.
#include "pooler/app/pidfile.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace pooler::app {

namespace {

int pid_in(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0 || pid > 0x7fffffff) return 0;
  return static_cast<int>(pid);
}

}  // namespace

int running_pid(const std::string& path) {
  int pid = pid_in(path);
  if (pid == 0 || pid == getpid()) return 0;
  // EPERM: alive, but someone else's; still "running" for the purpose of not starting twice.
  return kill(pid, 0) == 0 || errno == EPERM ? pid : 0;
}

bool write_pidfile(const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  out << getpid() << "\n";
  return static_cast<bool>(out);
}

void remove_pidfile_if_ours(const std::string& path) {
  if (pid_in(path) == getpid()) unlink(path.c_str());
}

}  // namespace pooler::app
