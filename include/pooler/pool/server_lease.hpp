// ServerLease: the right to use one server, held by exactly one client. Move-only; giving it up
// either returns the server clean (release) or closes it (discard). Dropping it discards, so a
// server whose state is unknown never goes back to the pool.
#pragma once

#include <utility>

namespace pooler::backend {
class ServerConnection;
}

namespace pooler::pool {

class Pool;

class ServerLease {
 public:
  ServerLease() = default;
  ServerLease(Pool& pool, backend::ServerConnection& server) : pool_(&pool), server_(&server) {}
  ServerLease(ServerLease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), server_(std::exchange(other.server_, nullptr)) {}
  ServerLease& operator=(ServerLease&& other) noexcept {
    if (this != &other) {
      discard();
      pool_ = std::exchange(other.pool_, nullptr);
      server_ = std::exchange(other.server_, nullptr);
    }
    return *this;
  }
  ServerLease(const ServerLease&) = delete;
  ServerLease& operator=(const ServerLease&) = delete;
  ~ServerLease() { discard(); }

  explicit operator bool() const { return server_ != nullptr; }
  backend::ServerConnection* get() const { return server_; }
  backend::ServerConnection* operator->() const { return server_; }

  // Back to the pool if the server is clean (reset first when the mode says so), else closed.
  void release();
  // Closed: its state cannot be trusted.
  void discard();
  // Its request was cancelled: the pool waits for the server to finish, rolls back, reuses it.
  void salvage();
  // The server died on its own; the pool already dropped it.
  void forget() { server_ = nullptr; }

 private:
  Pool* pool_ = nullptr;
  backend::ServerConnection* server_ = nullptr;
};

}  // namespace pooler::pool
