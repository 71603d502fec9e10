// TCP and unix-socket listeners.
#include "pooler/net/listener.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace pooler::net {

struct Listener::Impl {
  StreamHandle h;
  Loop* loop = nullptr;
  Stream::Kind kind = Stream::Kind::kTcp;
  OnAccept on_accept;
  std::string unix_path;

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

Listener::Listener(Impl* impl, std::string description)
    : impl_(impl), description_(std::move(description)) {}

Listener::~Listener() {
  if (!impl_->unix_path.empty()) unlink(impl_->unix_path.c_str());
  impl_->close();
}

util::Result<std::unique_ptr<Listener>> Listener::listen_tcp(Loop& loop, const std::string& addr,
                                                             int port, int backlog,
                                                             OnAccept on_accept) {
  sockaddr_storage ss{};
  std::string host = addr == "*" ? "::" : addr;
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0) {
    return util::Error{"listen_addr is not an IP address: " + addr};
  }
  auto* impl = new Impl;
  impl->loop = &loop;
  impl->on_accept = std::move(on_accept);
  uv_tcp_init(loop.raw(), &impl->h.tcp);
  impl->h.handle.data = impl;
  std::string where = host + ":" + std::to_string(port);
  int rc = uv_tcp_bind(&impl->h.tcp, reinterpret_cast<sockaddr*>(&ss), 0);
  if (rc == 0) rc = uv_listen(&impl->h.stream, backlog, &Impl::on_connection);
  if (rc < 0) {
    impl->close();
    return util::Error{"cannot listen on " + where + ": " + uv_strerror(rc)};
  }
  return std::make_unique<Listener>(impl, where);
}

util::Result<std::unique_ptr<Listener>> Listener::listen_unix(Loop& loop, const std::string& dir,
                                                              int port, int mode, int backlog,
                                                              OnAccept on_accept) {
  std::string path = dir + "/.s.PGSQL." + std::to_string(port);
  auto* impl = new Impl;
  impl->loop = &loop;
  impl->kind = Stream::Kind::kUnix;
  impl->on_accept = std::move(on_accept);
  uv_pipe_init(loop.raw(), &impl->h.pipe, 0);
  impl->h.handle.data = impl;
  // A socket file left by a crashed run would make bind fail; nothing can be listening on it
  // if connecting fails, but keeping this simple as PgBouncer does: remove and rebind.
  unlink(path.c_str());
  int rc = uv_pipe_bind(&impl->h.pipe, path.c_str());
  if (rc == 0) rc = uv_listen(&impl->h.stream, backlog, &Impl::on_connection);
  if (rc < 0) {
    impl->close();
    return util::Error{"cannot listen on " + path + ": " + uv_strerror(rc)};
  }
  chmod(path.c_str(), static_cast<mode_t>(mode));
  impl->unix_path = path;
  return std::make_unique<Listener>(impl, path);
}

}  // namespace pooler::net
