// Listener: a listening TCP or unix socket that hands each accepted connection to a callback.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "pooler/net/stream.hpp"
#include "pooler/util/result.hpp"

namespace pooler::net {

// Whether a listener may share its address with a process already listening there. Every TCP
// listener is opened with SO_REUSEPORT, so that a successor can join it; only one that is told
// to share binds where another is listening (otherwise that is "address already in use").
enum class PortSharing {
  kExclusive,  // fail if someone listens there already
  kShare,      // join them (SO_REUSEPORT; for the unix socket, take the path over atomically)
};

class Listener {
 public:
  using OnAccept = std::function<void(std::unique_ptr<Stream>)>;

  // addr "*" listens on all IPv4 and IPv6 addresses (dual stack).
  static util::Result<std::unique_ptr<Listener>> listen_tcp(Loop& loop, const std::string& addr,
                                                            int port, int backlog,
                                                            PortSharing sharing,
                                                            OnAccept on_accept);
  // Listens on <dir>/.s.PGSQL.<port>, as PostgreSQL and PgBouncer do. A stale socket file is
  // replaced; one a live process listens on only when sharing (the path then moves to us).
  static util::Result<std::unique_ptr<Listener>> listen_unix(Loop& loop, const std::string& dir,
                                                             int port, int mode, int backlog,
                                                             PortSharing sharing,
                                                             OnAccept on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  const std::string& description() const { return description_; }
  // Listens on a unix socket (not TCP).
  bool unix_socket() const;
  // Hands every connection already waiting in the backlog to on_accept, so that closing the
  // listener resets none of them (a successor shares the port and takes the new ones).
  void accept_pending();

  struct Impl;
  Listener(Impl* impl, std::string description);

 private:
  Impl* impl_;
  std::string description_;
  std::string unix_path_;
  friend struct ListenerAccess;
};

}  // namespace pooler::net
