// ClientRegistry: owns every client connection, counts them against max_client_conn, and finds
// a client by its pooler-issued cancel key.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "pooler/frontend/auth_cache.hpp"
#include "pooler/frontend/client_connection.hpp"
#include "pooler/frontend/client_limits.hpp"
#include "pooler/frontend/peer_cancels.hpp"
#include "pooler/protocol/prepared_statements.hpp"
#include "pooler/protocol/statement_rewriter.hpp"
#include "pooler/util/secure.hpp"

namespace pooler::frontend {

class ClientRegistry {
 public:
  ClientRegistry(net::Loop& loop, const util::Clock& clock, net::Graveyard& graveyard,
                 pool::PoolRegistry& pools,
                 std::function<std::shared_ptr<const config::Config>()> config)
      : context_{loop, clock, graveyard, pools, *this, std::move(config), nullptr, nullptr},
        mock_seed_(32, '\0'),
        peers_(loop, pools.dns(), clock, pools.events()) {
    util::random_bytes(mock_seed_.data(), mock_seed_.size());
    context_.rewriter = &rewriter_;
  }
  ~ClientRegistry();

  ClientConnection& accept(std::unique_ptr<net::Stream> stream);
  // The client is finished; it is destroyed once the current callback has returned.
  void retire(ClientConnection& client);
  // Issues a cancel key (pid, key) unique among live clients. The pid is made up, above any
  // real process id (Linux's pid_max is at most 2^22), so it never names a real backend. With
  // peer_id set it carries that id instead, in PgBouncer's layout (protocol/cancel_key.hpp).
  void register_cancel_key(ClientConnection& client, std::int32_t& pid, std::int32_t& key);
  // Session mode: the client is told its server's real pid instead, with a fresh secret key of
  // the pooler's own (so a client that has gone cannot cancel the server's next client). Not
  // when peering: the key must name this peer, so it keeps the one it was issued.
  void take_backend_pid(ClientConnection& client, std::int32_t backend_pid, std::int32_t& pid,
                        std::int32_t& key);
  // A CancelRequest: with peering, one whose key names another peer goes on to that peer.
  // Otherwise it is forwarded to PostgreSQL if (pid, key) names a live client whose request is
  // running;
  // `on_done` runs once PostgreSQL has dealt with it. Otherwise nothing is sent and the reason
  // comes back (PgBouncer's words); nullptr when it was forwarded.
  const char* cancel(std::int32_t pid, std::int32_t key, std::function<void()> on_done);
  // Random for the process: seeds the mock authentication of users missing from auth_file.
  const std::string& mock_seed() const { return mock_seed_; }
  const PeerCancels& peers() const { return peers_; }
  // What auth_query answered lately; RELOAD and RECONNECT clear it.
  AuthCache& auth_cache() { return auth_cache_; }
  // Clients per database and per user (max_db_client_connections, max_user_client_connections).
  ClientLimits& limits() { return limits_; }
  const ClientLimits& limits() const { return limits_; }

  std::size_t size() const { return clients_.size(); }
  void set_console(ConsolePort& console) { context_.console = &console; }
  // Clients accepted from now on handshake with `tls` (null: no TLS offered).
  void set_client_tls(std::shared_ptr<const net::TlsContext> tls) {
    context_.client_tls = std::move(tls);
  }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& client : clients_) f(*client);
  }
  // The janitor's walk: each client checks its own timeouts.
  void tick();
  // Calls f on every client that `select` picks. f may close the client: the walk is over a
  // copy, and closed clients live until the graveyard is cleared.
  template <typename Select, typename F>
  void for_each_selected(Select&& select, F&& f) {
    std::vector<ClientConnection*> picked;
    for (auto& client : clients_) {
      if (select(*client)) picked.push_back(client.get());
    }
    for (ClientConnection* client : picked) f(*client);
  }
  // KILL_CLIENT: false if no client has that id.
  bool kill(std::uint64_t id, const std::string& message);
  // Clients that are not for the admin console (what a waiting shutdown waits for).
  std::size_t data_clients() const;
  // A reload: every client follows the new config's timeouts.
  void adopt_config(const std::shared_ptr<const config::Config>& config);
  void close_all();
  // A shutdown began: from now on only console logins are accepted.
  void refuse_new_logins() { context_.refusing_logins = true; }

 private:
  // The loop's prepared statements: one server name per text, whichever client prepared it.
  protocol::StatementCatalog statement_catalog_;
  protocol::StatementRewriter rewriter_{statement_catalog_};
  FrontendContext context_;
  std::uint64_t next_id_ = 1;
  // Each client knows its slot (registry_slot), so retiring one moves the last into its place:
  // a pointer per client, where a hash map would cost a node.
  std::vector<std::unique_ptr<ClientConnection>> clients_;
  // Takes the client out of clients_; nullptr if it is not there.
  std::unique_ptr<ClientConnection> take(ClientConnection& client);
  // Several clients may show one pid: a session-mode server's, to each client it served.
  std::unordered_multimap<std::int32_t, ClientConnection*> by_cancel_pid_;
  void forget_cancel_key(const ClientConnection& client);
  ClientConnection* find_by_key(std::int32_t pid, std::int32_t key) const;
  std::string mock_seed_;
  PeerCancels peers_;
  AuthCache auth_cache_;
  ClientLimits limits_;
};

}  // namespace pooler::frontend
