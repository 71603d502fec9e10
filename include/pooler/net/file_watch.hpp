// FileWatch: tells its owner, once per burst, that any of a set of files has changed. It watches
// each file's directory, not the file (an editor's save and Kubernetes' ConfigMap update both
// replace the file, Kubernetes by swapping a `..data` symlink, which a watch on the old inode
// would never see), and compares what each path now resolves to with what it did.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pooler/net/loop.hpp"
#include "pooler/net/timer.hpp"

namespace pooler::net {

class FileWatch {
 public:
  // `changed` gets the paths that differ, after `settle` without a further event, or at the
  // latest 4 x `settle` after a burst began (a busy directory, a log file in it, must not
  // postpone the check for ever).
  using Changed = std::function<void(const std::vector<std::string>& paths)>;
  FileWatch(Loop& loop, std::chrono::milliseconds settle, Changed changed);
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // Watches exactly these files from now on (empty paths are skipped); what they are now is
  // the baseline. Returns the directories that could not be watched, with libuv's reason.
  std::vector<std::string> watch(const std::vector<std::string>& files);

 private:
  struct Directory;
  // What a path resolves to: device, inode, size and modification time, or nothing if absent.
  using Fingerprint = std::string;
  static Fingerprint fingerprint(const std::string& path);
  void on_event();
  void settle();

  Loop& loop_;
  std::chrono::milliseconds settle_;
  Changed changed_;
  Timer timer_;
  bool pending_ = false;
  std::chrono::steady_clock::time_point burst_began_;
  std::map<std::string, Fingerprint> files_;
  std::map<std::string, std::unique_ptr<Directory>> directories_;
};

}  // namespace pooler::net
