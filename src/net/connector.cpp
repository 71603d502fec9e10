// Asynchronous connect: name resolution through uv_getaddrinfo, then a TCP or unix connect.
// Destroying the PendingConnect cancels it; the state frees itself when libuv lets go.
#include "pooler/net/connector.hpp"

#include <netdb.h>

#include <cstring>

#include "pooler/net/defer.hpp"

namespace pooler::net {

struct PendingConnect::State {
  Loop* loop = nullptr;
  ConnectDone done;
  bool cancelled = false;
  bool resolving = false;
  int port = 0;
  TcpOptions tcp;
  uv_getaddrinfo_t resolve{};
  std::unique_ptr<Stream> stream;

  void finish(std::unique_ptr<Stream> s, const std::string& error) {
    auto cb = std::move(done);
    if (cb) cb(std::move(s), error);
  }

  // Reports a failure found before any libuv callback, on the next iteration.
  void fail_later(std::string error) {
    defer(*loop, [this, error = std::move(error)] {
      if (!cancelled) finish(nullptr, error);
      if (cancelled) delete this;
    });
    resolving = true;  // keeps the destructor from freeing us before the deferred call runs
  }

  void on_connected(int status) {
    auto connected = std::move(stream);
    if (status < 0) {
      finish(nullptr, uv_strerror(status));
      return;
    }
    if (connected->kind() == Stream::Kind::kTcp) {
      tune_tcp(reinterpret_cast<uv_tcp_t*>(connected->raw()), tcp);
    }
    finish(std::move(connected), "");
  }

  void connect(Stream::Kind kind, const sockaddr* addr, const std::string& path) {
    stream = Stream::create(*loop, kind);
    if (!stream) {
      fail_later("cannot create socket");
      return;
    }
    auto cb = [this](int status) { on_connected(status); };
    if (kind == Stream::Kind::kUnix) {
      stream->connect_unix(path, cb);
    } else if (int rc = stream->connect_tcp(addr, cb); rc < 0) {
      stream.reset();
      fail_later(uv_strerror(rc));
    }
  }
};

PendingConnect::~PendingConnect() {
  state_->done = nullptr;
  state_->stream.reset();
  if (state_->resolving) {
    state_->cancelled = true;  // the pending libuv callback frees it
  } else {
    delete state_;
  }
}

std::unique_ptr<PendingConnect> connect_to(Loop& loop, const std::string& host, int port,
                                           const TcpOptions& tcp, ConnectDone done) {
  auto* state = new PendingConnect::State;
  state->loop = &loop;
  state->done = std::move(done);
  state->port = port;
  state->tcp = tcp;
  auto pending = std::make_unique<PendingConnect>(state);

  if (host.empty() || host.front() == '/') {
    std::string dir = host.empty() ? "/var/run/postgresql" : host;
    state->connect(Stream::Kind::kUnix, nullptr, dir + "/.s.PGSQL." + std::to_string(port));
    return pending;
  }
  sockaddr_storage ss{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
    state->connect(Stream::Kind::kTcp, reinterpret_cast<sockaddr*>(&ss), "");
    return pending;
  }

  state->resolving = true;
  state->resolve.data = state;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(
      loop.raw(), &state->resolve,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* st = static_cast<PendingConnect::State*>(req->data);
        st->resolving = false;
        if (st->cancelled) {
          uv_freeaddrinfo(res);
          delete st;
          return;
        }
        if (status < 0 || res == nullptr) {
          uv_freeaddrinfo(res);
          st->finish(nullptr, std::string("could not resolve host: ") + uv_strerror(status));
          return;
        }
        sockaddr_storage addr{};
        std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
        uv_freeaddrinfo(res);
        // Port sits at the same offset in sockaddr_in and sockaddr_in6.
        reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(static_cast<uint16_t>(st->port));
        st->connect(Stream::Kind::kTcp, reinterpret_cast<sockaddr*>(&addr), "");
      },
      host.c_str(), nullptr, &hints);
  if (rc < 0) {
    state->resolving = false;
    state->fail_later(std::string("could not resolve host: ") + uv_strerror(rc));
  }
  return pending;
}

}  // namespace pooler::net
