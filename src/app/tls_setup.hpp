// TlsSetup: the two TLS contexts the config asks for (clients' side, PostgreSQL's side), built
// at start and rebuilt at a reload when a client_tls_*/server_tls_* setting or one of the files
// they name has changed, and the counters their connections report to. Private to app/.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "pooler/backend/server_connection.hpp"
#include "pooler/config/config.hpp"
#include "pooler/metrics/events.hpp"
#include "pooler/net/tls_context.hpp"

namespace pooler::app {

class TlsSetup final : public net::TlsObserver {
 public:
  // Builds what changed. At start an error is returned and nothing is kept; at a reload a side
  // that fails to build keeps its old context (TLS never drops) and the error is returned.
  std::optional<std::string> apply(const config::Settings& settings);

  // Null when client_tls_sslmode = disable.
  std::shared_ptr<const net::TlsContext> client() const { return client_.context; }
  backend::ServerTls server() const;

  using Counts = std::array<metrics::TlsEvents, static_cast<std::size_t>(metrics::TlsSide::kCount)>;
  const Counts& counts() const { return counts_; }

  // net::TlsObserver
  void on_handshake(net::TlsRole role, bool ok, util::Duration took) override;
  void on_tls_closed(net::TlsRole role) override;

 private:
  struct Built {
    std::string fingerprint;  // settings and file contents it was built from
    std::shared_ptr<const net::TlsContext> context;
  };
  std::optional<std::string> rebuild(Built& built, const std::optional<net::TlsSettings>& wanted,
                                     const char* side);

  Built client_;
  Built server_;
  backend::ServerTlsMode server_mode_ = backend::ServerTlsMode::kDisable;
  bool started_ = false;
  Counts counts_{};
};

}  // namespace pooler::app
