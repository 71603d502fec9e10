// Stream implementation: one write in flight at a time, later writes coalesce into a second
// buffer, so steady-state forwarding needs no allocation per message. Most writes go straight to
// the socket; only bytes it does not take need the write request and buffers, which are made
// then and given back once drained, so an idle plain stream holds none. A TLS stream puts its
// TlsSession between the socket and the owner, and keeps its buffers for the records it makes.
#include "pooler/net/stream.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cstring>
#include <new>
#include <utility>

#include "pooler/net/tls_session.hpp"

namespace pooler::net {

struct Stream::Impl final : Suspension::Member, TlsSession::Io {
  StreamHandle h;
  Loop* loop = nullptr;
  StreamHandler* handler = nullptr;
  // The owner's Stream object, placed here by create().
  alignas(Stream) unsigned char owner[sizeof(Stream)];
  // What is queued: the uv_write under way (its request and bytes are libuv's until its
  // callback) and what waits for it to finish.
  struct Buffers {
    uv_write_t req{};
    std::string in_flight;
    std::string pending;
  };
  // A connect under way (server streams only).
  struct Connect {
    uv_connect_t req{};
    std::function<void(int)> done;
  };
  std::unique_ptr<Buffers> buffers;  // null while nothing is queued
  std::unique_ptr<Connect> connecting;
  bool writing = false;
  bool reading = false;  // the owner wants to read
  bool receiving = false;  // libuv is reading: wanted, and not held by a suspension
  bool exempt_from_suspension = false;
  bool above_high = false;
  bool closing = false;
  bool close_when_flushed = false;
  bool owner_gone = false;
  bool handle_closed = false;  // libuv is done with the handle; freed once the owner is gone too
  Kind kind = Kind::kTcp;
  std::unique_ptr<TlsSession> tls;

  explicit Impl(Loop& loop_) : loop(&loop_) { loop->suspension().join(this); }
  ~Impl() { loop->suspension().leave(this); }

  std::size_t queued() const {
    return buffers ? buffers->in_flight.size() + buffers->pending.size() : 0;
  }
  bool nothing_pending() const { return !buffers || buffers->pending.empty(); }
  std::string& pending() {
    if (!buffers) buffers = std::make_unique<Buffers>();
    return buffers->pending;
  }

  void on_suspension_changed() override { update_receiving(); }
  std::size_t unsent_bytes() const override { return closing ? 0 : queued(); }
  bool exempt() const override { return exempt_from_suspension; }
  void drop() override { fail(UV_ECONNABORTED); }

  // Starts or stops libuv's reading to match what the owner wants and the suspension allows.
  void update_receiving() {
    bool want = reading && !closing && (exempt_from_suspension || !loop->suspension().held());
    if (want == receiving) return;
    receiving = want;
    if (!want) {
      if (!closing) uv_read_stop(&h.stream);
      return;
    }
    uv_read_start(
        &h.stream,
        [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
          auto* self = static_cast<Impl*>(handle->data);
          *buf = self->loop->read_buffer();
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          auto* self = static_cast<Impl*>(stream->data);
          if (nread > 0) {
            util::Bytes data{reinterpret_cast<const std::uint8_t*>(buf->base),
                             static_cast<std::size_t>(nread)};
            if (self->tls) {
              self->after_tls(self->tls->receive(data, *self));
            } else if (self->handler != nullptr) {
              self->handler->on_read(data);
            }
          } else if (nread < 0) {
            self->fail(static_cast<int>(nread));
          }
        });
  }

  void close_now() {
    if (closing) return;
    closing = true;
    handler = nullptr;
    uv_close(&h.handle, [](uv_handle_t* handle) {
      auto* self = static_cast<Impl*>(handle->data);
      // A write still in flight is cancelled before this callback; its req belongs to us.
      self->handle_closed = true;
      if (self->owner_gone) delete self;
    });
  }

  void flush() {
    if (writing || nothing_pending() || closing) return;
    buffers->in_flight.swap(buffers->pending);
    buffers->pending.clear();
    uv_buf_t buf = uv_buf_init(buffers->in_flight.data(), buffers->in_flight.size());
    buffers->req.data = this;
    int rc = uv_write(&buffers->req, &h.stream, &buf, 1, [](uv_write_t* req, int status) {
      auto* self = static_cast<Impl*>(req->data);
      self->writing = false;
      self->buffers->in_flight.clear();
      if (status < 0) {
        if (status != UV_ECANCELED) self->fail(status);
        return;
      }
      self->after_write();
    });
    if (rc < 0) {
      buffers->in_flight.clear();
      fail(rc);
      return;
    }
    writing = true;
  }

  void after_write() {
    if (closing) return;
    flush();
    if (!writing && !tls) buffers.reset();  // drained: an idle plain stream keeps none
    if (queued() == 0 && close_when_flushed) {
      close_now();
      return;
    }
    if (above_high && queued() < kLowWatermark) {
      above_high = false;
      if (handler != nullptr) handler->on_drained();
    }
  }

  void fail(int status) {
    if (closing) return;
    StreamHandler* h_ = handler;
    if (close_when_flushed || owner_gone) {
      close_now();
      return;
    }
    stop_reading();
    if (buffers) buffers->pending.clear();
    if (h_ != nullptr) h_->on_disconnect(status);
  }

  void stop_reading() {
    reading = false;
    update_receiving();
  }

  // TlsSession::Io. Records are gathered in the queue and sent with one syscall per call into
  // the session, however many records it made.
  void tls_output(util::Bytes ciphertext) override {
    if (closing) return;
    pending().append(reinterpret_cast<const char*>(ciphertext.data()), ciphertext.size());
  }
  bool tls_plaintext(util::Bytes plaintext) override {
    if (handler == nullptr || closing) return false;
    handler->on_read(plaintext);
    return handler != nullptr && !closing;
  }
  void tls_established() override {
    send_pending();
    if (handler != nullptr) handler->on_tls_ready();
  }

  // Sends what the queue holds: at once if the socket takes it, else through uv_write.
  void send_pending() {
    if (closing || nothing_pending()) return;
    if (!writing) {
      std::string& queue = buffers->pending;
      uv_buf_t buf = uv_buf_init(queue.data(), queue.size());
      int n = uv_try_write(&h.stream, &buf, 1);
      if (n == static_cast<int>(queue.size())) {
        queue.clear();
      } else if (n > 0) {
        queue.erase(0, static_cast<std::size_t>(n));
      }
    }
    flush();
    if (queued() >= kHighWatermark) above_high = true;
  }

  void after_tls(TlsSession::Status status) {
    send_pending();  // an alert explains a failure to the peer: send it before closing
    if (status == TlsSession::Status::kOpen) return;
    fail(status == TlsSession::Status::kPeerClosed ? UV_EOF : UV_EPROTO);
  }
};

std::unique_ptr<Stream> Stream::accept_from(Loop& loop, uv_stream_t* server, Kind kind) {
  auto stream = create(loop, kind);
  if (stream && uv_accept(server, stream->raw()) < 0) return nullptr;  // closes it
  return stream;
}

std::unique_ptr<Stream> Stream::create(Loop& loop, Kind kind) {
  auto* impl = new Stream::Impl(loop);
  impl->kind = kind;
  int rc = kind == Kind::kTcp ? uv_tcp_init(loop.raw(), &impl->h.tcp)
                              : uv_pipe_init(loop.raw(), &impl->h.pipe, 0);
  impl->h.handle.data = impl;
  if (rc < 0) {
    delete impl;
    return nullptr;
  }
  return std::unique_ptr<Stream>(::new (impl->owner) Stream(impl));
}

std::unique_ptr<Stream> Stream::adopt(Loop& loop, Kind kind, int fd) {
  auto stream = create(loop, kind);
  int rc = !stream ? UV_ENOMEM
           : kind == Kind::kTcp
               ? uv_tcp_open(&stream->impl_->h.tcp, fd)
               : uv_pipe_open(&stream->impl_->h.pipe, fd);
  if (rc < 0) {
    ::close(fd);  // not taken over by libuv
    return nullptr;
  }
  return stream;
}

namespace {

void on_connected(uv_connect_t* req, int status) {
  auto* self = static_cast<Stream::Impl*>(req->data);
  // libuv is done with the request; a cancelled connect calls back before the close does.
  auto done = std::move(self->connecting->done);
  self->connecting.reset();
  if (self->owner_gone || self->closing || !done) return;
  done(status);
}

}  // namespace

int Stream::connect_tcp(const sockaddr* addr, std::function<void(int)> done) {
  impl_->connecting = std::make_unique<Impl::Connect>();
  impl_->connecting->done = std::move(done);
  impl_->connecting->req.data = impl_;
  int rc = uv_tcp_connect(&impl_->connecting->req, &impl_->h.tcp, addr, &on_connected);
  if (rc < 0) impl_->connecting.reset();
  return rc;
}

void Stream::connect_unix(const std::string& path, std::function<void(int)> done) {
  impl_->connecting = std::make_unique<Impl::Connect>();
  impl_->connecting->done = std::move(done);
  impl_->connecting->req.data = impl_;
  uv_pipe_connect(&impl_->connecting->req, &impl_->h.pipe, path.c_str(), &on_connected);
}

bool Stream::at_rest() const {
  const Impl* s = impl_;
  return !s->closing && !s->close_when_flushed && !s->connecting && !s->writing &&
         s->queued() == 0 && (!s->tls || s->tls->established());
}

std::optional<StreamHandover> Stream::hand_over(std::unique_ptr<Stream>& stream) {
  if (!stream || !stream->at_rest()) return std::nullopt;
  Impl* s = stream->impl_;
  uv_os_fd_t fd;
  if (uv_fileno(&s->h.handle, &fd) != 0) return std::nullopt;
  // The copy keeps the connection open: closing the handle below ends only its descriptor
  // (libuv removes it from this loop's epoll set first, so no event of it reaches this loop).
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return std::nullopt;
  StreamHandover handover(copy, s->kind, std::move(s->tls));
  stream.reset();
  return handover;
}

std::unique_ptr<Stream> Stream::take_over(Loop& loop, StreamHandover handover) {
  auto stream = adopt(loop, handover.kind_, std::exchange(handover.fd_, -1));
  if (stream) stream->impl_->tls = std::move(handover.tls_);
  return stream;
}

StreamHandover::StreamHandover(int fd, Stream::Kind kind, std::unique_ptr<TlsSession> tls)
    : fd_(fd), kind_(kind), tls_(std::move(tls)) {}

StreamHandover::StreamHandover(StreamHandover&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), kind_(other.kind_), tls_(std::move(other.tls_)) {}

StreamHandover& StreamHandover::operator=(StreamHandover&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    kind_ = other.kind_;
    tls_ = std::move(other.tls_);
  }
  return *this;
}

StreamHandover::~StreamHandover() {
  if (fd_ >= 0) ::close(fd_);
}

Stream::~Stream() {
  if (impl_ == nullptr) return;
  impl_->handler = nullptr;
  impl_->owner_gone = true;
  if (impl_->handle_closed) {
    delete impl_;
  } else if (!impl_->close_when_flushed) {
    impl_->close_now();
  }
}

void Stream::set_handler(StreamHandler* handler) { impl_->handler = handler; }

void Stream::start_reading() {
  if (impl_->reading || impl_->closing || impl_->close_when_flushed) return;
  impl_->reading = true;
  impl_->update_receiving();
}

void Stream::stop_reading() { impl_->stop_reading(); }

bool Stream::reading() const { return impl_->reading; }

void Stream::exempt_from_suspension() {
  impl_->exempt_from_suspension = true;
  impl_->update_receiving();
}

void Stream::write(util::Bytes data) {
  Impl* s = impl_;
  if (s->closing || data.empty()) return;
  if (s->tls) {
    auto status = s->tls->send(data, *s);
    s->send_pending();
    // A failed send is reported by the read side, as for plain sockets.
    (void)status;
    return;
  }
  if (!s->writing && s->nothing_pending()) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())),
                               data.size());
    int n = uv_try_write(&s->h.stream, &buf, 1);
    if (n == static_cast<int>(data.size())) return;
    if (n > 0) data = data.subspan(static_cast<std::size_t>(n));
    if (n < 0 && n != UV_EAGAIN) {
      // Let the read side report it: failing here would re-enter the caller mid-write.
      s->pending().append(reinterpret_cast<const char*>(data.data()), data.size());
      s->flush();
      return;
    }
  }
  s->pending().append(reinterpret_cast<const char*>(data.data()), data.size());
  s->flush();
  if (s->queued() >= kHighWatermark) s->above_high = true;
}

std::size_t Stream::queued_bytes() const { return impl_->queued(); }

void Stream::close_after_flush() {
  Impl* s = impl_;
  s->handler = nullptr;
  s->stop_reading();
  if (s->tls && !s->closing) {
    s->tls->shutdown(*s);
    s->send_pending();
  }
  if (s->queued() == 0) {
    s->close_now();
  } else {
    s->close_when_flushed = true;
  }
}

void Stream::close() { impl_->close_now(); }

void Stream::start_tls(std::shared_ptr<const TlsContext> context, const std::string& peer_name,
                       util::Bytes received) {
  Impl* s = impl_;
  if (s->closing || s->tls) return;
  s->tls = std::make_unique<TlsSession>(std::move(context), peer_name);
  auto status = s->tls->start(*s);
  if (status == TlsSession::Status::kOpen && !received.empty()) {
    status = s->tls->receive(received, *s);
  }
  s->after_tls(status);
}

bool Stream::tls() const { return impl_->tls != nullptr; }

const std::string& Stream::tls_error() const {
  static const std::string kNone;
  return impl_->tls ? impl_->tls->error() : kNone;
}

std::string Stream::tls_description() const {
  return impl_->tls ? impl_->tls->description() : std::string();
}

std::string Stream::tls_server_end_point() const {
  return impl_->tls ? impl_->tls->server_end_point() : std::string();
}

bool Stream::tls_peer_certificate() const {
  return impl_->tls && impl_->tls->peer_certificate_present();
}

std::string Stream::tls_peer_common_name() const {
  return impl_->tls ? impl_->tls->peer_common_name() : std::string();
}

std::string Stream::tls_alpn() const { return impl_->tls ? impl_->tls->alpn() : std::string(); }

bool Stream::closed() const { return impl_->closing || impl_->close_when_flushed; }

uv_stream_t* Stream::raw() { return &impl_->h.stream; }

namespace {

PeerInfo describe(const sockaddr_storage& ss) {
  PeerInfo info;
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(in, host, sizeof host);
    info.port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(in6, host, sizeof host);
    info.port = ntohs(in6->sin6_port);
  }
  info.addr = host;
  return info;
}

}  // namespace

Stream::Kind Stream::kind() const { return impl_->kind; }

PeerInfo Stream::peer() const {
  if (impl_->kind == Kind::kUnix) {
    PeerInfo info;
    info.addr = "unix";
    info.is_unix = true;
    uv_os_fd_t fd;
    if (uv_fileno(&impl_->h.handle, &fd) == 0) {
      ucred cred{};
      socklen_t len = sizeof cred;
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        info.uid = static_cast<int>(cred.uid);
        info.port = static_cast<int>(cred.pid);
      }
    }
    return info;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  uv_tcp_getpeername(&impl_->h.tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  return describe(ss);
}

PeerInfo Stream::local() const {
  if (impl_->kind == Kind::kUnix) {
    PeerInfo info;
    info.addr = "unix";
    info.is_unix = true;
    return info;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  uv_tcp_getsockname(&impl_->h.tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  return describe(ss);
}

void tune_tcp(uv_tcp_t* tcp, const TcpOptions& options) {
  uv_tcp_nodelay(tcp, 1);
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) != 0) return;
  auto set = [fd](int option, int value) {
    if (value > 0) setsockopt(fd, IPPROTO_TCP, option, &value, sizeof value);
  };
  // Set only what differs from the kernel's defaults: every option is a syscall per connection.
  int keepalive = options.keepalive ? 1 : 0;
  if (keepalive) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, sizeof keepalive);
  if (options.keepalive) {
    set(TCP_KEEPIDLE, options.keepidle);
    set(TCP_KEEPINTVL, options.keepintvl);
    set(TCP_KEEPCNT, options.keepcnt);
  }
  set(TCP_USER_TIMEOUT, options.user_timeout);
}

}  // namespace pooler::net
