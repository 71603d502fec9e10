// ServerCancel: one CancelRequest sent to PostgreSQL on a connection of its own. It lives until
// PostgreSQL closes that connection, because only then has the backend been signalled: until
// then the cancelled server must not run anyone else's query, or the late signal would stop it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "pooler/net/connector.hpp"
#include "pooler/net/stream.hpp"
#include "pooler/util/clock.hpp"

namespace pooler::backend {

struct ServerTarget;

class ServerCancel final : public net::StreamHandler {
 public:
  enum class Phase {
    kConnecting,  // the request is not on its way yet
    kSent,        // written; waiting for PostgreSQL to close the connection
  };
  using Finished = std::function<void(ServerCancel&)>;

  // Connects to `host`:`port` (the address the server itself is on) and sends the request for
  // backend (pid, key). `finished` runs exactly once, when PostgreSQL has closed the connection
  // or it could not be used; it may destroy this object.
  ServerCancel(net::Loop& loop, net::DnsCache& dns, const std::string& host, int port,
               const net::TcpOptions& tcp, std::int32_t pid, std::int32_t key, util::TimePoint now,
               Finished finished);
  ~ServerCancel() override;
  ServerCancel(const ServerCancel&) = delete;
  ServerCancel& operator=(const ServerCancel&) = delete;

  Phase phase() const { return phase_; }
  util::TimePoint started() const { return started_; }
  // A client asked for it (not query_timeout or a vanished client); told when it is done.
  bool requested_by_client() const { return static_cast<bool>(on_done_); }
  void set_on_done(std::function<void()> on_done) { on_done_ = std::move(on_done); }
  // Whoever asked for the cancel, if anyone: to be told once it is done.
  std::function<void()> take_on_done() { return std::move(on_done_); }

  // net::StreamHandler: PostgreSQL answers a cancel only by closing.
  void on_read(util::Bytes) override {}
  void on_disconnect(int status) override;

 private:
  void on_connected(std::unique_ptr<net::Stream> stream, const std::string& error);
  void finish();

  std::string packet_;
  util::TimePoint started_;
  Phase phase_ = Phase::kConnecting;
  std::unique_ptr<net::PendingConnect> connect_;
  std::unique_ptr<net::Stream> stream_;
  Finished finished_;
  std::function<void()> on_done_;
};

}  // namespace pooler::backend
