// ClientRegistry: owns every client connection, counts them against max_client_conn, and finds
// a client by its pooler-issued cancel key.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "pooler/frontend/client_connection.hpp"

namespace pooler::frontend {

class ClientRegistry {
 public:
  ClientRegistry(net::Loop& loop, const util::Clock& clock, net::Graveyard& graveyard,
                 pool::PoolRegistry& pools,
                 std::function<std::shared_ptr<const config::Config>()> config)
      : context_{loop, clock, graveyard, pools, *this, std::move(config)} {}
  ~ClientRegistry();

  void accept(std::unique_ptr<net::Stream> stream);
  // The client is finished; it is destroyed once the current callback has returned.
  void retire(ClientConnection& client);
  // Issues a cancel key (pid, key) unique among live clients.
  void register_cancel_key(ClientConnection& client, std::int32_t& pid, std::int32_t& key);
  // A CancelRequest: forwards it if (pid, key) names a live client; ignores it otherwise.
  void cancel(std::int32_t pid, std::int32_t key);

  std::size_t size() const { return clients_.size(); }
  void set_console(ConsolePort& console) { context_.console = &console; }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [ptr, client] : clients_) f(*client);
  }
  // The janitor's walk: each client checks its own timeouts.
  void tick();
  void close_all();

 private:
  FrontendContext context_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<ClientConnection*, std::unique_ptr<ClientConnection>> clients_;
  std::unordered_map<std::int32_t, ClientConnection*> by_cancel_pid_;
};

}  // namespace pooler::frontend
