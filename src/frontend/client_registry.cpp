// Client ownership, retirement and cancel-key lookup.
#include "pooler/frontend/client_registry.hpp"

#include <spdlog/spdlog.h>

#include "pooler/protocol/cancel_key.hpp"
#include "pooler/protocol/sqlstate.hpp"
#include "pooler/util/secure.hpp"

namespace pooler::frontend {

ClientRegistry::~ClientRegistry() { close_all(); }

ClientConnection& ClientRegistry::accept(std::unique_ptr<net::Stream> stream) {
  auto client = std::make_unique<ClientConnection>(context_, std::move(stream), next_id_++);
  ClientConnection* raw = client.get();
  raw->set_registry_slot(clients_.size());
  clients_.push_back(std::move(client));
  raw->start();
  return *raw;
}

void ClientRegistry::retire(ClientConnection& client) {
  forget_cancel_key(client);
  if (auto taken = take(client)) context_.graveyard.bury(std::move(taken));
}

std::unique_ptr<ClientConnection> ClientRegistry::take(ClientConnection& client) {
  std::size_t slot = client.registry_slot();
  if (slot >= clients_.size() || clients_[slot].get() != &client) return nullptr;
  std::unique_ptr<ClientConnection> taken = std::move(clients_[slot]);
  if (slot + 1 != clients_.size()) {
    clients_[slot] = std::move(clients_.back());
    clients_[slot]->set_registry_slot(slot);
  }
  clients_.pop_back();
  return taken;
}

void ClientRegistry::forget_cancel_key(const ClientConnection& client) {
  auto [begin, end] = by_cancel_pid_.equal_range(client.cancel_pid());
  for (auto it = begin; it != end; ++it) {
    if (it->second == &client) {
      by_cancel_pid_.erase(it);
      return;
    }
  }
}

void ClientRegistry::register_cancel_key(ClientConnection& client, std::int32_t& pid,
                                         std::int32_t& key) {
  if (int peer_id = context_.config()->settings.peer_id; peer_id > 0) {
    // 15 random bits are left of the pid: keys are told apart by (pid, key), whole.
    do {
      util::random_bytes(&pid, sizeof pid);
      util::random_bytes(&key, sizeof key);
      protocol::stamp_cancel_key(pid, key, peer_id);
    } while (find_by_key(pid, key) != nullptr);
    by_cancel_pid_.emplace(pid, &client);
    return;
  }
  constexpr std::uint32_t kAboveRealPids = 1U << 22;
  do {
    std::uint32_t r = 0;
    util::random_bytes(&r, sizeof r);
    pid = static_cast<std::int32_t>(kAboveRealPids + r % (0x7fffffffU - kAboveRealPids));
  } while (by_cancel_pid_.count(pid) != 0);
  util::random_bytes(&key, sizeof key);
  by_cancel_pid_.emplace(pid, &client);
}

void ClientRegistry::take_backend_pid(ClientConnection& client, std::int32_t backend_pid,
                                      std::int32_t& pid, std::int32_t& key) {
  if (context_.config()->settings.peer_id > 0) return;
  forget_cancel_key(client);
  pid = backend_pid;
  util::random_bytes(&key, sizeof key);
  by_cancel_pid_.emplace(pid, &client);
}

ClientConnection* ClientRegistry::find_by_key(std::int32_t pid, std::int32_t key) const {
  // Every candidate's key is compared, in constant time, so timing tells nothing of which
  // client a pid belongs to.
  ClientConnection* client = nullptr;
  auto [begin, end] = by_cancel_pid_.equal_range(pid);
  for (auto it = begin; it != end; ++it) {
    std::int32_t expected = it->second->cancel_key();
    if (util::constant_time_equal({reinterpret_cast<const char*>(&key), sizeof key},
                                  {reinterpret_cast<const char*>(&expected), sizeof expected})) {
      client = it->second;
    }
  }
  return client;
}

const char* ClientRegistry::cancel(std::int32_t pid, std::int32_t key,
                                   std::function<void()> on_done) {
  const auto config = context_.config();
  if (int own = config->settings.peer_id; own > 0) {
    int issuer = protocol::cancel_key_peer(pid);
    if (issuer != own) return peers_.forward(*config, issuer, pid, key, std::move(on_done));
    // Keys are kept with every hop left; one that came through peers has spent some.
    if (protocol::cancel_key_hops(key) < protocol::kCancelHops) {
      ++context_.pools.events().peer_cancels_received;
    }
    key = protocol::with_every_hop(key);
  }
  ClientConnection* client = find_by_key(pid, key);
  if (client == nullptr) {
    ++context_.pools.events().cancels_unmatched;
    return "failed cancel request";
  }
  if (client->console_client()) {
    ++context_.pools.events().cancels_idle;
    return "cancel request for console client";
  }
  if (!client->cancel_current_query(std::move(on_done))) {
    ++context_.pools.events().cancels_idle;
    return "cancel request for idle client";
  }
  spdlog::debug("C-{:#x}: cancel request forwarded", client->id());
  ++context_.pools.events().cancels_forwarded;
  return nullptr;
}

void ClientRegistry::tick() {
  auto now = context_.clock.now();
  if (double limit = context_.config()->settings.cancel_wait_timeout; limit > 0) {
    peers_.expire(now, util::seconds_to_duration(limit));
  }
  for_each_selected([](const ClientConnection&) { return true; },
                    [now](ClientConnection& client) { client.check_timeouts(now); });
}

bool ClientRegistry::kill(std::uint64_t id, const std::string& message) {
  bool found = false;
  for_each_selected([id](const ClientConnection& c) { return c.id() == id; },
                    [&](ClientConnection& client) {
                      found = true;
                      client.fail(protocol::sqlstate::kAdminShutdown, message);
                    });
  return found;
}

std::size_t ClientRegistry::data_clients() const {
  std::size_t n = 0;
  for (const auto& client : clients_) {
    if (!client->console_client()) ++n;
  }
  return n;
}

void ClientRegistry::adopt_config(const std::shared_ptr<const config::Config>& config) {
  for (auto& client : clients_) client->adopt_config(config);
}

void ClientRegistry::close_all() {
  while (!clients_.empty()) {
    ClientConnection& client = *clients_.back();
    client.fail(protocol::sqlstate::kAdminShutdown, "pooler is shutting down");
    // fail() retires the client; guard against a client that was already closed.
    take(client);
  }
}

}  // namespace pooler::frontend
