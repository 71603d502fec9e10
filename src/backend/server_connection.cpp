// ServerConnection: login state machine, internal statements and the server half of forwarding.
#include "pooler/backend/server_connection.hpp"

#include <spdlog/spdlog.h>

#include "pooler/net/defer.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/md5_password.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::backend {

namespace {

// Types whose bodies the pooler reads while forwarding: ReadyForQuery, ParameterStatus,
// ErrorResponse (internal statements only).
constexpr std::string_view kCapturedTypes = "ZSE";

enum AuthCode : std::int32_t {
  kAuthOk = 0,
  kAuthCleartext = 3,
  kAuthMd5 = 5,
  kAuthSasl = 10,
  kAuthSaslContinue = 11,
  kAuthSaslFinal = 12,
};

struct Parameter {
  std::string_view name;
  std::string_view value;
};

// A ParameterStatus body: name and value, or nullopt if malformed.
std::optional<Parameter> parse_parameter(util::Bytes body) {
  util::ByteReader r(body);
  auto name = r.cstring();
  auto value = r.cstring();
  if (!name || !value) return std::nullopt;
  return Parameter{*name, *value};
}

protocol::ErrorFields pooler_error(std::string message) {
  return {"FATAL", protocol::sqlstate::kConnectionFailure, std::move(message)};
}

}  // namespace

ServerConnection::ServerConnection(net::Loop& loop, const util::Clock& clock, ServerTarget target,
                                   ServerOwner& owner, std::uint64_t id)
    : loop_(loop),
      clock_(clock),
      target_(std::move(target)),
      owner_(owner),
      id_(id),
      state_since_(clock.now()),
      connected_at_(clock.now()),
      scanner_(target_.max_packet_size, kCapturedTypes) {}

ServerConnection::~ServerConnection() = default;

void ServerConnection::set_state(ServerState state) {
  state_ = state;
  state_since_ = clock_.now();
}

void ServerConnection::connect() {
  set_state(ServerState::kConnecting);
  pending_connect_ = net::connect_to(
      loop_, target_.host, target_.port, target_.tcp,
      [this](std::unique_ptr<net::Stream> stream, const std::string& error) {
        on_connected(std::move(stream), error);
      });
}

void ServerConnection::on_connected(std::unique_ptr<net::Stream> stream, const std::string& error) {
  if (!stream) {
    login_failed(pooler_error("pooler cannot connect to server: " + error));
    return;
  }
  stream_ = std::move(stream);
  stream_->set_handler(this);
  connected_at_ = clock_.now();
  set_state(ServerState::kLogin);
  std::vector<std::pair<std::string, std::string>> params = {{"user", target_.user},
                                                             {"database", target_.dbname}};
  for (const auto& p : target_.startup_parameters) params.push_back(p);
  std::string out;
  protocol::append_startup(out, params);
  write(out);
  stream_->start_reading();
}

void ServerConnection::close() {
  if (state_ == ServerState::kClosed) return;
  set_state(ServerState::kClosed);
  pending_connect_.reset();
  peer_ = nullptr;
  if (stream_) {
    std::string out;
    protocol::append_terminate(out);
    stream_->write(out);
    stream_->close_after_flush();
  }
}

void ServerConnection::write(const std::string& bytes) {
  if (stream_) stream_->write(bytes);
}

void ServerConnection::on_read(util::Bytes data) {
  switch (state_) {
    case ServerState::kLogin:
      handle_login_bytes(data);
      return;
    case ServerState::kActive:
      handle_forwarding_bytes(data);
      return;
    case ServerState::kInternal:
      handle_internal_bytes(data);
      return;
    case ServerState::kIdle: {
      // An idle server may still report a parameter change or notice; anything that breaks
      // framing means it is unusable.
      bool ok = scanner_.scan(data, [this](char type, util::Bytes body) {
        if (type == 'S') {
          if (auto p = parse_parameter(body)) parameters_.set(p->name, p->value);
        }
        return true;
      });
      if (!ok) lost("server sent malformed data while idle");
      return;
    }
    case ServerState::kConnecting:
    case ServerState::kClosed:
      return;
  }
}

void ServerConnection::handle_login_bytes(util::Bytes data) {
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
      login_failed(protocol::parse_error_fields(body), true);
      return false;
    case 'Z':
      note_ready('I');
      set_state(ServerState::kIdle);
      scram_.reset();
      if (stats_ != nullptr) ++stats_->server_login_count;
      owner_.on_server_ready(*this);
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
        login_failed(pooler_error("server asked for a cleartext password, which the pooler "
                                  "does not have for user \"" + target_.user + "\""));
        return false;
      }
      protocol::append_password(out, secret);
      break;
    case kAuthMd5: {
      auto salt_bytes = r.bytes(4);
      if (!salt_bytes || secret.empty()) {
        login_failed(pooler_error("server asked for an md5 password, which the pooler does not "
                                  "have for user \"" + target_.user + "\""));
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
      while (auto mechanism = r.cstring()) {
        if (mechanism->empty()) break;
        if (*mechanism == protocol::kScramSha256) offered = true;
      }
      bool have_password = !secret.empty() && !protocol::is_md5_secret(secret);
      if (!offered || (!have_password && !target_.scram_client_key)) {
        login_failed(pooler_error("server asked for SCRAM authentication, which the pooler "
                                  "cannot do for user \"" + target_.user + "\""));
        return false;
      }
      protocol::ScramClientCredentials credentials;
      if (target_.scram_client_key) {
        credentials.client_key = target_.scram_client_key;
        credentials.server_key = target_.scram_server_key;
      } else {
        credentials.password = secret;
      }
      scram_ = std::make_unique<protocol::ScramClientSession>(std::move(credentials));
      protocol::append_sasl_initial_response(out, protocol::kScramSha256,
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

void ServerConnection::login_failed(protocol::ErrorFields error, bool refused) {
  set_state(ServerState::kClosed);
  pending_connect_.reset();
  if (stream_) stream_->close();
  owner_.on_server_login_failed(*this, error, refused);
}

void ServerConnection::attach(ServerPeer& peer) {
  peer_ = &peer;
  set_state(ServerState::kActive);
}

void ServerConnection::detach() { peer_ = nullptr; }

void ServerConnection::send(util::Bytes data, int ready_owed) {
  if (ready_owed_ == 0 && ready_owed > 0) {
    busy_since_ = clock_.now();
    timed_out_ = false;
    query_started_ = busy_since_;
    if (last_status_ == 'I') xact_started_ = busy_since_;
  }
  ready_owed_ += ready_owed;
  if (stream_) stream_->write(data);
}

void ServerConnection::note_ready(char status) {
  if (ready_owed_ > 0) --ready_owed_;
  last_status_ = status;
  last_ready_at_ = clock_.now();
}

// Client requests only: the pooler's own statements run in kInternal and are not counted.
void ServerConnection::count_ready(char status) {
  if (stats_ == nullptr) return;
  auto micros = [](util::Duration d) {
    return static_cast<std::uint64_t>(util::duration_to_micros(d));
  };
  std::uint64_t query_us = micros(last_ready_at_ - query_started_);
  ++stats_->query_count;
  stats_->query_time_us += query_us;
  stats_->query_histogram.observe_us(query_us);
  query_started_ = last_ready_at_;  // a pipelined next request starts now at the latest
  if (status == 'I') {
    std::uint64_t xact_us = micros(last_ready_at_ - xact_started_);
    ++stats_->xact_count;
    stats_->xact_time_us += xact_us;
    stats_->xact_histogram.observe_us(xact_us);
    xact_started_ = last_ready_at_;
  }
}

void ServerConnection::start_swallowing(std::function<void(bool)> done) {
  set_state(ServerState::kInternal);
  internal_done_ = std::move(done);
  internal_failed_ = false;
}

void ServerConnection::run_internal(const std::string& sql, std::function<void(bool)> done) {
  start_swallowing(std::move(done));
  std::string out;
  protocol::append_query(out, sql);
  send(util::as_bytes(out), 1);
}

void ServerConnection::drain(std::function<void(bool)> done) {
  // PostgreSQL signals a cancelled backend twice (its pid, then its process group); if the
  // second signal lands after the first was handled, it cancels whatever runs next. A backend
  // that waits idle for input discards such a stale cancel, so let it sit idle briefly.
  static constexpr std::chrono::milliseconds kCancelSettle{20};
  start_swallowing([this, done = std::move(done)](bool ok) {
    if (state_ == ServerState::kClosed) {
      done(false);
      return;
    }
    settled_ = [done, ok] { done(ok); };
    if (!settle_timer_) {
      settle_timer_ = std::make_unique<net::Timer>(loop_, [this] {
        auto settled = std::move(settled_);
        if (settled && state_ != ServerState::kClosed) settled();
      });
    }
    settle_timer_->start_once(kCancelSettle);
  });
  if (ready_owed_ == 0 && scanner_.at_boundary()) {
    auto finish = std::move(internal_done_);
    finish(last_status_ == 'I');
  }
}

void ServerConnection::cancel_running_query() {
  spdlog::debug("S-{:#x} {}/{} sending cancel request for backend {}", id_, target_.dbname,
                target_.user, backend_pid_);
  std::string out;
  protocol::append_cancel_request(out, backend_pid_, backend_key_);
  // The request goes on its own connection, as the protocol requires.
  cancel_connect_ = net::connect_to(
      loop_, target_.host, target_.port, target_.tcp,
      [out](std::unique_ptr<net::Stream> stream, const std::string& error) {
        if (!stream) {
          spdlog::warn("cannot send cancel request to server: {}", error);
          return;
        }
        stream->write(out);
        stream->close_after_flush();
      });
}

void ServerConnection::handle_forwarding_bytes(util::Bytes data) {
  std::size_t ready_end = 0;
  bool ok = scanner_.scan(data, [&](char type, util::Bytes body) {
    if (type == 'Z') {
      char status = body.empty() ? 'I' : static_cast<char>(body[0]);
      note_ready(status);
      count_ready(status);
      ready_end = scanner_.message_end();
    } else if (type == 'S') {
      auto p = parse_parameter(body);
      if (p && parameters_.set(p->name, p->value) && peer_ != nullptr) {
        peer_->on_server_parameter(p->name, p->value);
      }
    }
    return true;
  });
  if (!ok) {
    lost("server sent malformed data");
    return;
  }
  if (peer_ == nullptr) return;
  bool settled = ready_end == data.size() && ready_owed_ == 0;
  peer_->on_server_bytes(data, settled ? last_status_ : '\0');
}

void ServerConnection::handle_internal_bytes(util::Bytes data) {
  bool finished = false;
  bool ok = scanner_.scan(data, [&](char type, util::Bytes body) {
    if (type == 'E') {
      auto error = protocol::parse_error_fields(body);
      spdlog::warn("S-{:#x} {}/{} pooler statement failed: {}", id_, target_.dbname,
                   target_.user, error.message);
      internal_failed_ = true;
    } else if (type == 'S') {
      if (auto p = parse_parameter(body)) parameters_.set(p->name, p->value);
    } else if (type == 'Z') {
      note_ready(body.empty() ? 'I' : static_cast<char>(body[0]));
      if (ready_owed_ == 0) finished = true;
    }
    return true;
  });
  if (!ok) {
    lost("server sent malformed data");
    return;
  }
  if (finished && scanner_.at_boundary()) {
    auto done = std::move(internal_done_);
    bool success = !internal_failed_ && last_status_ == 'I';
    if (done) done(success);
  }
}

void ServerConnection::pause_reading() {
  if (stream_) stream_->stop_reading();
}

void ServerConnection::resume_reading() {
  if (stream_ && state_ != ServerState::kClosed) stream_->start_reading();
}

void ServerConnection::on_disconnect(int status) {
  lost(status == UV_EOF ? "server closed the connection unexpectedly"
                        : std::string("server connection failed: ") + uv_strerror(status));
}

void ServerConnection::on_drained() {
  if (peer_ != nullptr) peer_->on_server_drained();
}

void ServerConnection::lost(const std::string& reason) {
  if (state_ == ServerState::kClosed) return;
  if (state_ == ServerState::kLogin || state_ == ServerState::kConnecting) {
    login_failed(pooler_error(reason));
    return;
  }
  set_state(ServerState::kClosed);
  if (stream_) stream_->close();
  if (ServerPeer* peer = std::exchange(peer_, nullptr)) peer->on_server_lost(reason);
  auto done = std::move(internal_done_);
  if (done) done(false);
  owner_.on_server_closed(*this, reason);
}

}  // namespace pooler::backend
