// Server targets from config entries.
#include "pooler/pool/server_target.hpp"

#include "pooler/protocol/scram.hpp"

namespace pooler::pool {

net::TcpOptions tcp_options(const config::Settings& settings) {
  return {settings.tcp_keepalive, settings.tcp_keepidle, settings.tcp_keepintvl,
          settings.tcp_keepcnt, settings.tcp_user_timeout};
}

backend::ServerTarget server_target(const config::Config& config,
                                    const config::DatabaseEntry& database,
                                    const std::string& server_user) {
  backend::ServerTarget target;
  target.database = database.name;
  target.hosts = database.servers();
  target.host = target.hosts.front().host;
  target.port = target.hosts.front().port;
  target.dbname = database.dbname;
  target.user = server_user;
  target.tcp = tcp_options(config.settings);
  target.max_packet_size = static_cast<std::size_t>(config.settings.max_packet_size);
  target.log_connections = config.settings.log_connections;
  target.connect_query = database.connect_query;
  if (!database.password.empty()) {
    target.secret = database.password;
  } else if (const auto* secret = config.find_secret(server_user)) {
    if (!protocol::parse_scram_verifier(secret->secret)) target.secret = secret->secret;
  }
  return target;
}

}  // namespace pooler::pool
