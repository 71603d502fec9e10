// FrontendContext: what every client connection needs from the loop that owns it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pooler/backend/parameter_set.hpp"
#include "pooler/config/config.hpp"
#include "pooler/frontend/console_port.hpp"
#include "pooler/net/graveyard.hpp"
#include "pooler/net/tls_context.hpp"
#include "pooler/pool/pool_registry.hpp"
#include "pooler/protocol/statement_rewriter.hpp"

namespace pooler::frontend {

class ClientConnection;

class ClientRegistry;

struct FrontendContext {
  net::Loop& loop;
  const util::Clock& clock;
  net::Graveyard& graveyard;
  pool::PoolRegistry& pools;
  ClientRegistry& clients;
  // The configuration in force now; a reload swaps it, clients keep the one they logged in with.
  std::function<std::shared_ptr<const config::Config>()> config;
  ConsolePort* console = nullptr;  // set by app once the console exists
  // The TLS context new clients handshake with; null when client_tls_sslmode = disable.
  std::shared_ptr<const net::TlsContext> client_tls;
  // Renames clients' prepared statements onto the servers they are given (transaction and
  // statement mode); set by the registry.
  protocol::StatementRewriter* rewriter = nullptr;
  // The session parameters kept in step (backend::tracked_parameters); track_extra_parameters
  // is a restart setting, so one list serves every client. Filled at the first login.
  std::vector<std::string> tracked_parameters{};
  // Greeted clients' parameter sets share buffers through it.
  backend::ParameterInterner parameter_interner{};
  // Shutting down: only admin console logins are let in (through the unix socket kept open).
  bool refusing_logins = false;
};

}  // namespace pooler::frontend
