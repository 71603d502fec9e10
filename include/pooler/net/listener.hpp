// Listener: a listening TCP or unix socket that hands each accepted connection to a callback.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "pooler/net/stream.hpp"
#include "pooler/util/result.hpp"

namespace pooler::net {

class Listener {
 public:
  using OnAccept = std::function<void(std::unique_ptr<Stream>)>;

  // addr "*" listens on all IPv4 and IPv6 addresses (dual stack).
  static util::Result<std::unique_ptr<Listener>> listen_tcp(Loop& loop, const std::string& addr,
                                                            int port, int backlog,
                                                            OnAccept on_accept);
  // Listens on <dir>/.s.PGSQL.<port>, as PostgreSQL and PgBouncer do, replacing a stale socket.
  static util::Result<std::unique_ptr<Listener>> listen_unix(Loop& loop, const std::string& dir,
                                                             int port, int mode, int backlog,
                                                             OnAccept on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  const std::string& description() const { return description_; }

  struct Impl;
  Listener(Impl* impl, std::string description);

 private:
  Impl* impl_;
  std::string description_;
  std::string unix_path_;
  friend struct ListenerAccess;
};

}  // namespace pooler::net
