// ServerConnection's login: the connection, TLS negotiation (SSLRequest), the startup packet,
// authentication (trust, cleartext, md5, SCRAM with channel binding) and connect_query.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "pooler/backend/server_connection.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/md5_password.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "server_messages.hpp"

namespace pooler::backend {

namespace {

enum AuthCode : std::int32_t {
  kAuthOk = 0,
  kAuthCleartext = 3,
  kAuthMd5 = 5,
  kAuthSasl = 10,
  kAuthSaslContinue = 11,
  kAuthSaslFinal = 12,
};

}  // namespace

void ServerConnection::on_connected(std::unique_ptr<net::Stream> stream, const std::string& error) {
  if (!stream) {
    login_failed(pooler_error("pooler cannot connect to server: " + error));
    return;
  }
  stream_ = std::move(stream);
  stream_->set_handler(this);
  if (stream_->kind() == net::Stream::Kind::kTcp) remote_address_ = stream_->peer().addr;
  connected_at_ = clock_.now();
  set_state(ServerState::kLogin);
  if (target_.log_connections) {
    if (stream_->kind() == net::Stream::Kind::kUnix) {
      spdlog::info("{} new connection to server", log_prefix());
    } else {
      net::PeerInfo local = stream_->local();
      spdlog::info("{} new connection to server (from {}:{})", log_prefix(),
                   local.addr, static_cast<int>(local.port));
    }
  }
  stream_->start_reading();
  const ServerTls& tls = target_.tls;
  // As PgBouncer: every mode but disable asks (allow too), and unix sockets stay plain.
  bool ask_for_tls = tls.context && stream_->kind() == net::Stream::Kind::kTcp &&
                     tls.mode != ServerTlsMode::kDisable;
  if (!ask_for_tls) {
    send_startup();
    return;
  }
  std::string out;
  protocol::append_ssl_request(out);
  awaiting_ssl_answer_ = true;
  write(out);
}

void ServerConnection::send_startup() {
  std::vector<std::pair<std::string, std::string>> params = {{"user", target_.user},
                                                             {"database", target_.dbname}};
  for (const auto& p : target_.startup_parameters) params.push_back(p);
  std::string out;
  protocol::append_startup(out, params);
  write(out);
}

void ServerConnection::handle_ssl_answer(util::Bytes data) {
  awaiting_ssl_answer_ = false;
  const ServerTls& tls = target_.tls;
  char answer = static_cast<char>(data[0]);
  if (answer == 'S') {
    // Bytes behind the 'S' were not encrypted, so anyone on the path could have put them
    // there (CVE-2021-23222): refuse them, as libpq does.
    if (data.size() > 1) {
      login_failed(pooler_error("server sent unencrypted data after SSL response"));
      return;
    }
    stream_->start_tls(tls.context, target_.host);
    return;
  }
  if (answer == 'N') {
    if (tls.mode >= ServerTlsMode::kRequire) {
      login_failed(pooler_error("server does not support SSL, but SSL was required"),
                   LoginFailure::kRefused);
      return;
    }
    send_startup();
    if (data.size() > 1) handle_login_bytes(data.subspan(1));
    return;
  }
  // An ErrorResponse (a server too old for SSLRequest) or garbage.
  login_failed(pooler_error("received invalid response to SSL negotiation: " +
                            std::string(1, answer)),
               LoginFailure::kRefused);
}

void ServerConnection::on_tls_ready() {
  if (state_ != ServerState::kLogin) return;
  if (target_.log_connections) {
    spdlog::debug("{} TLS established: {}", log_prefix(), stream_->tls_description());
  }
  send_startup();
}

void ServerConnection::handle_login_bytes(util::Bytes data) {
  if (awaiting_ssl_answer_) {
    handle_ssl_answer(data);
    return;
  }
  login_buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
  std::size_t consumed = 0;
  while (state_ == ServerState::kLogin) {
    auto frame = protocol::frame_typed(util::as_bytes(login_buffer_).subspan(consumed),
                                       target_.max_packet_size);
    if (frame.malformed()) {
      login_failed(pooler_error("server sent malformed login data: " + frame.error));
      return;
    }
    if (!frame.complete()) break;
    consumed += frame.size;
    // Copy out: handling may append to the buffer (never) or finish login and clear it.
    if (!handle_login_message(frame.type, frame.body)) return;
  }
  if (state_ == ServerState::kLogin) {
    login_buffer_.erase(0, consumed);
  } else {
    login_buffer_.clear();
    login_buffer_.shrink_to_fit();
  }
}

bool ServerConnection::handle_login_message(char type, util::Bytes body) {
  switch (type) {
    case 'R':
      return handle_auth_request(body);
    case 'S':
      if (auto p = parse_parameter(body)) parameters_.set(p->name, p->value);
      return true;
    case 'K': {
      util::ByteReader r(body);
      backend_pid_ = r.i32().value_or(0);
      backend_key_ = r.i32().value_or(0);
      return true;
    }
    case 'E':
      login_failed(protocol::parse_error_fields(body), LoginFailure::kRefused);
      return false;
    case 'Z':
      note_ready('I');
      scram_.reset();
      if (stats_ != nullptr) ++stats_->server_login_count;
      if (!target_.connect_query.empty()) {
        // Before any client: whatever it returns is swallowed, a failure only logged.
        run_internal(target_.connect_query, [this](bool ok) {
          if (state_ == ServerState::kClosed) return;  // died meanwhile; the owner hears that
          if (!ok) spdlog::warn("{} connect_query failed; the server is used anyway", log_prefix());
          logged_in();
        });
        return false;
      }
      logged_in();
      return false;
    default:
      // NoticeResponse, NegotiateProtocolVersion: nothing to act on.
      return true;
  }
}

bool ServerConnection::handle_auth_request(util::Bytes body) {
  util::ByteReader r(body);
  auto code = r.i32();
  if (!code) {
    login_failed(pooler_error("server sent a malformed authentication request"));
    return false;
  }
  std::string out;
  const std::string& secret = target_.secret;
  switch (*code) {
    case kAuthOk:
      return true;
    case kAuthCleartext:
      if (secret.empty() || protocol::is_md5_secret(secret)) {
        wrong_password_type("plain-text");
        return false;
      }
      protocol::append_password(out, secret);
      break;
    case kAuthMd5: {
      auto salt_bytes = r.bytes(4);
      if (!salt_bytes) {
        login_failed(pooler_error("server sent a malformed authentication request"));
        return false;
      }
      if (secret.empty()) {
        wrong_password_type("MD5");
        return false;
      }
      protocol::Md5Salt salt;
      std::copy(salt_bytes->begin(), salt_bytes->end(), salt.begin());
      std::string stored = protocol::is_md5_secret(secret)
                               ? secret
                               : protocol::md5_stored_secret(secret, target_.user);
      protocol::append_password(out, protocol::md5_salted_response(stored, salt));
      break;
    }
    case kAuthSasl: {
      bool offered = false;
      protocol::ScramClientBinding binding;
      while (auto mechanism = r.cstring()) {
        if (mechanism->empty()) break;
        if (*mechanism == protocol::kScramSha256) offered = true;
        if (*mechanism == protocol::kScramSha256Plus) binding.server_offers_plus = true;
      }
      // Bound to the TLS link the pooler sees, as libpq's channel_binding=prefer: a PLUS offer
      // over plain text is a server (or something in between) confused, and is not taken.
      if (stream_->tls()) {
        binding.data = stream_->tls_server_end_point();
        offered = offered || binding.server_offers_plus;
      } else {
        binding.server_offers_plus = false;
      }
      bool have_password = !secret.empty() && !protocol::is_md5_secret(secret);
      if (!offered) {
        login_failed(pooler_error("server offered no SASL mechanism the pooler knows"));
        return false;
      }
      if (!have_password && !target_.scram_client_key) {
        wrong_password_type("SCRAM");
        return false;
      }
      protocol::ScramClientCredentials credentials;
      if (target_.scram_client_key) {
        credentials.client_key = target_.scram_client_key;
        credentials.server_key = target_.scram_server_key;
      } else {
        credentials.password = secret;
      }
      scram_ = std::make_unique<protocol::ScramClientSession>(std::move(credentials), "",
                                                              std::move(binding));
      protocol::append_sasl_initial_response(out, scram_->mechanism(),
                                             scram_->client_first_message());
      break;
    }
    case kAuthSaslContinue: {
      if (!scram_) {
        login_failed(pooler_error("server sent an unexpected SASL message"));
        return false;
      }
      auto reply = scram_->handle_server_first(util::as_chars(body.subspan(4)));
      if (!reply) {
        login_failed(pooler_error("SCRAM login to server failed: " + reply.error()));
        return false;
      }
      protocol::append_sasl_response(out, *reply);
      break;
    }
    case kAuthSaslFinal: {
      auto verified = scram_ ? scram_->verify_server_final(util::as_chars(body.subspan(4)))
                             : util::Result<bool>(util::Error{"unexpected SASL final"});
      if (!verified) {
        login_failed(pooler_error("SCRAM login to server failed: " + verified.error()));
        return false;
      }
      return true;
    }
    default:
      login_failed(pooler_error("server asked for an unsupported authentication method (" +
                                std::to_string(*code) + ")"));
      return false;
  }
  write(out);
  return true;
}

void ServerConnection::login_failed(protocol::ErrorFields error, LoginFailure why) {
  set_state(ServerState::kClosed);
  pending_connect_.reset();
  if (stream_) stream_->close();
  owner_.on_server_login_failed(*this, error, why);
}

void ServerConnection::wrong_password_type(const char* method) {
  // PgBouncer's words, which operators grep for.
  spdlog::error("{} cannot do {} authentication: wrong password type",
                log_prefix(), method);
  login_failed(pooler_error("server login failed: wrong password type"),
               LoginFailure::kWrongPasswordType);
}

}  // namespace pooler::backend
