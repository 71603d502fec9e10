// Directory watches with libuv's fs events, and a settle timer so a burst makes one report.
#include "pooler/net/file_watch.hpp"

#include <sys/stat.h>
#include <uv.h>

#include <algorithm>
#include <set>

namespace pooler::net {

// One uv_fs_event_t; its memory lives until libuv's close callback.
struct FileWatch::Directory {
  struct Handle {
    uv_fs_event_t event{};
    FileWatch* owner = nullptr;
  };
  Handle* handle = new Handle;

  ~Directory() {
    handle->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle->event),
             [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
  }
};

FileWatch::FileWatch(Loop& loop, std::chrono::milliseconds settle, Changed changed)
    : loop_(loop), settle_(settle), changed_(std::move(changed)), timer_(loop, [this] {
        this->settle();
      }) {}

FileWatch::~FileWatch() = default;

FileWatch::Fingerprint FileWatch::fingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};  // stat follows the symlinks to the data
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

std::vector<std::string> FileWatch::watch(const std::vector<std::string>& files) {
  files_.clear();
  std::set<std::string> wanted;
  for (const std::string& file : files) {
    if (file.empty()) continue;
    files_[file] = fingerprint(file);
    std::size_t slash = file.rfind('/');
    wanted.insert(slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash));
  }
  for (auto it = directories_.begin(); it != directories_.end();) {
    it = wanted.count(it->first) != 0 ? std::next(it) : directories_.erase(it);
  }
  std::vector<std::string> failed;
  for (const std::string& dir : wanted) {
    if (directories_.count(dir) != 0) continue;
    auto directory = std::make_unique<Directory>();
    uv_fs_event_init(loop_.raw(), &directory->handle->event);
    directory->handle->event.data = directory->handle;
    directory->handle->owner = this;
    int rc = uv_fs_event_start(
        &directory->handle->event,
        [](uv_fs_event_t* event, const char*, int, int) {
          auto* handle = static_cast<Directory::Handle*>(event->data);
          if (handle->owner != nullptr) handle->owner->on_event();
        },
        dir.c_str(), 0);
    if (rc != 0) {
      failed.push_back(dir + ": " + uv_strerror(rc));
      continue;  // the Directory's destructor closes the handle
    }
    directories_[dir] = std::move(directory);
  }
  return failed;
}

void FileWatch::on_event() {
  auto now = std::chrono::steady_clock::now();
  if (!pending_) {
    pending_ = true;
    burst_began_ = now;
  }
  auto latest = burst_began_ + 4 * settle_;
  auto at = std::min(now + settle_, latest);
  timer_.start_once(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(at - now, std::chrono::steady_clock::duration::zero())));
}

void FileWatch::settle() {
  pending_ = false;
  std::vector<std::string> changed;
  for (auto& [path, known] : files_) {
    Fingerprint now = fingerprint(path);
    if (now == known) continue;
    known = std::move(now);
    changed.push_back(path);
  }
  if (!changed.empty() && changed_) changed_(changed);
}

}  // namespace pooler::net
