// Asynchronous connect: the name's address from the DnsCache, then a TCP or unix connect.
// Destroying the PendingConnect cancels it; the state frees itself when libuv lets go.
#include "pooler/net/connector.hpp"

#include <cstring>
#include <optional>

#include "pooler/net/defer.hpp"

namespace pooler::net {

namespace {

// `address` with `port`, or false if it is no IP address.
bool socket_address(const std::string& address, int port, sockaddr_storage& ss) {
  return uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
         uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0;
}

}  // namespace

struct PendingConnect::State {
  Loop* loop = nullptr;
  ConnectDone done;
  bool cancelled = false;
  bool deferred = false;  // a deferred failure report is pending
  int port = 0;
  TcpOptions tcp;
  std::unique_ptr<DnsCache::Lookup> lookup;
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
    deferred = true;  // keeps the destructor from freeing us before the deferred call runs
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

  // Connects to the DNS answer's address; else returns why not.
  std::optional<std::string> connect_answer(const DnsCache::Answer& answer) {
    sockaddr_storage ss{};
    if (!answer) return "could not resolve host: " + answer.error();
    if (!socket_address(*answer, port, ss)) return "could not resolve host: bad address " + *answer;
    connect(Stream::Kind::kTcp, reinterpret_cast<sockaddr*>(&ss), "");
    return std::nullopt;
  }
};

PendingConnect::~PendingConnect() {
  state_->done = nullptr;
  state_->lookup.reset();
  state_->stream.reset();
  if (state_->deferred) {
    state_->cancelled = true;  // the deferred call frees it
  } else {
    delete state_;
  }
}

std::unique_ptr<PendingConnect> connect_to(Loop& loop, DnsCache& dns, const std::string& host,
                                           int port, const TcpOptions& tcp, ConnectDone done) {
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
  if (socket_address(host, port, ss)) {
    state->connect(Stream::Kind::kTcp, reinterpret_cast<sockaddr*>(&ss), "");
    return pending;
  }
  if (auto answer = dns.cached(host)) {
    if (auto error = state->connect_answer(*answer)) state->fail_later(std::move(*error));
    return pending;
  }
  state->lookup = dns.resolve(host, [state](DnsCache::Answer answer) {
    // Last: finishing may delete the state.
    if (auto error = state->connect_answer(answer)) state->finish(nullptr, *error);
  });
  return pending;
}

}  // namespace pooler::net
