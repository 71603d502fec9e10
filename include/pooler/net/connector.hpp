// Outgoing connections: TCP by host name or address, or a unix socket when the host is a
// directory ("/path" -> /path/.s.PGSQL.<port>), as libpq interprets hosts. Names go through the
// DnsCache; addresses and socket paths need no lookup.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "pooler/net/dns_cache.hpp"
#include "pooler/net/stream.hpp"

namespace pooler::net {

class PendingConnect;

// Calls `done` exactly once with a connected stream, or nullptr and an error text. The returned
// handle cancels the callback when destroyed (the socket is then closed).
using ConnectDone = std::function<void(std::unique_ptr<Stream>, const std::string& error)>;
std::unique_ptr<PendingConnect> connect_to(Loop& loop, DnsCache& dns, const std::string& host,
                                           int port, const TcpOptions& tcp, ConnectDone done);

class PendingConnect {
 public:
  ~PendingConnect();
  struct State;
  explicit PendingConnect(State* state) : state_(state) {}

 private:
  State* state_;
};

}  // namespace pooler::net
