// TCP and unix-socket listeners, opened by hand so that SO_REUSEPORT is set before bind (libuv
// 1.44 has no flag for it) and a successor process can take over the port without a gap.
#include "pooler/net/listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pooler::net {

namespace {

std::string error_text(int err) { return uv_strerror(uv_translate_sys_error(err)); }

// A socket bound to `addr`, listening, or the errno of the step that failed.
struct Bound {
  int fd = -1;
  int error = 0;
};

Bound bind_tcp(const sockaddr* addr, socklen_t len, bool reuse_port, int backlog) {
  Bound b;
  b.fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (b.fd < 0) {
    b.error = errno;
    return b;
  }
  int on = 1;
  setsockopt(b.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (reuse_port) setsockopt(b.fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  if (bind(b.fd, addr, len) != 0 || (backlog > 0 && listen(b.fd, backlog) != 0)) {
    b.error = errno;
    close(b.fd);
    b.fd = -1;
  }
  return b;
}

// Someone already listens on this unix socket path.
bool unix_path_live(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
  close(fd);
  return live;
}

}  // namespace

struct Listener::Impl {
  StreamHandle h;
  Loop* loop = nullptr;
  Stream::Kind kind = Stream::Kind::kTcp;
  OnAccept on_accept;
  std::string unix_path;
  ino_t unix_inode = 0;  // the socket file we created: only that one is ours to remove

  void close() {
    uv_close(&h.handle, [](uv_handle_t* handle) { delete static_cast<Impl*>(handle->data); });
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Impl*>(server->data);
    if (status < 0) return;
    auto stream = Stream::accept_from(*self->loop, server, self->kind);
    if (stream) self->on_accept(std::move(stream));
  }
};

void Listener::accept_pending() {
  uv_os_fd_t fd;
  if (uv_fileno(&impl_->h.handle, &fd) != 0) return;
  while (true) {
    int conn = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) return;  // EAGAIN: the backlog is empty
    if (auto stream = Stream::adopt(*impl_->loop, impl_->kind, conn)) {
      impl_->on_accept(std::move(stream));
    }
  }
}

Listener::Listener(Impl* impl, std::string description)
    : impl_(impl), description_(std::move(description)) {}

bool Listener::unix_socket() const { return impl_->kind == Stream::Kind::kUnix; }

Listener::~Listener() {
  // A successor that took the path over (-R) owns the file now: leave it.
  struct stat st{};
  if (!impl_->unix_path.empty() && stat(impl_->unix_path.c_str(), &st) == 0 &&
      st.st_ino == impl_->unix_inode) {
    unlink(impl_->unix_path.c_str());
  }
  impl_->close();
}

util::Result<std::unique_ptr<Listener>> Listener::listen_tcp(Loop& loop, const std::string& addr,
                                                             int port, int backlog,
                                                             PortSharing sharing,
                                                             OnAccept on_accept) {
  sockaddr_storage ss{};
  std::string host = addr == "*" ? "::" : addr;
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0) {
    return util::Error{"listen_addr is not an IP address: " + addr};
  }
  const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  socklen_t len = ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  std::string where = host + ":" + std::to_string(port);
  if (sharing == PortSharing::kExclusive) {
    // Binding without SO_REUSEPORT fails while anyone listens there: a second pooler started
    // by mistake must not quietly share the port with the first.
    Bound probe = bind_tcp(sa, len, false, 0);
    if (probe.fd < 0) return util::Error{"cannot listen on " + where + ": " + error_text(probe.error)};
    ::close(probe.fd);
  }
  Bound bound = bind_tcp(sa, len, true, backlog);
  if (bound.fd < 0) {
    return util::Error{"cannot listen on " + where + ": " + error_text(bound.error)};
  }
  auto* impl = new Impl;
  impl->loop = &loop;
  impl->on_accept = std::move(on_accept);
  uv_tcp_init(loop.raw(), &impl->h.tcp);
  impl->h.handle.data = impl;
  int rc = uv_tcp_open(&impl->h.tcp, bound.fd);
  if (rc == 0) rc = uv_listen(&impl->h.stream, backlog, &Impl::on_connection);
  if (rc < 0) {
    impl->close();
    return util::Error{"cannot listen on " + where + ": " + uv_strerror(rc)};
  }
  return std::make_unique<Listener>(impl, where);
}

util::Result<std::unique_ptr<Listener>> Listener::listen_unix(Loop& loop, const std::string& dir,
                                                              int port, int mode, int backlog,
                                                              PortSharing sharing,
                                                              OnAccept on_accept) {
  std::string path = dir + "/.s.PGSQL." + std::to_string(port);
  if (sharing == PortSharing::kExclusive && unix_path_live(path)) {
    return util::Error{"cannot listen on " + path + ": " + uv_strerror(UV_EADDRINUSE)};
  }
  // Bound under a private name, then renamed over the path: a client connecting meanwhile
  // reaches either the old socket or this one, never nothing.
  std::string temporary = path + "." + std::to_string(getpid()) + ".new";
  unlink(temporary.c_str());
  auto* impl = new Impl;
  impl->loop = &loop;
  impl->kind = Stream::Kind::kUnix;
  impl->on_accept = std::move(on_accept);
  uv_pipe_init(loop.raw(), &impl->h.pipe, 0);
  impl->h.handle.data = impl;
  int rc = uv_pipe_bind(&impl->h.pipe, temporary.c_str());
  if (rc == 0) rc = uv_listen(&impl->h.stream, backlog, &Impl::on_connection);
  if (rc == 0) {
    chmod(temporary.c_str(), static_cast<mode_t>(mode));
    if (rename(temporary.c_str(), path.c_str()) != 0) rc = uv_translate_sys_error(errno);
  }
  if (rc < 0) {
    unlink(temporary.c_str());
    impl->close();
    return util::Error{"cannot listen on " + path + ": " + uv_strerror(rc)};
  }
  struct stat st{};
  if (stat(path.c_str(), &st) == 0) impl->unix_inode = st.st_ino;
  impl->unix_path = path;
  return std::make_unique<Listener>(impl, path);
}

}  // namespace pooler::net
