// ServerConnection: internal statements, cancels and the server half of forwarding. The login
// is in server_login.cpp.
#include "pooler/backend/server_connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pooler/net/defer.hpp"
#include "server_messages.hpp"
#include "pooler/protocol/framer.hpp"
#include "pooler/protocol/md5_password.hpp"
#include "pooler/protocol/message_builder.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::backend {

namespace {

// Types whose bodies the pooler reads while forwarding: ReadyForQuery, ParameterStatus,
// ErrorResponse, CommandComplete (its tag says when PostgreSQL dropped every prepared
// statement); CopyInResponse is seen for its type alone.
constexpr std::string_view kCapturedTypes = "ZSEC";

}  // namespace

ServerConnection::ServerConnection(net::Loop& loop, net::DnsCache& dns, const util::Clock& clock,
                                   ServerTarget target, ServerOwner& owner, std::uint64_t id)
    : loop_(loop),
      dns_(dns),
      clock_(clock),
      target_(std::move(target)),
      owner_(owner),
      id_(id),
      state_since_(clock.now()),
      connected_at_(clock.now()),
      scanner_(target_.max_packet_size, kCapturedTypes) {}

ServerConnection::~ServerConnection() = default;

std::string ServerConnection::log_prefix() const {
  return fmt::format("S-{:#x}: {}/{}@{}:{}", id_, target_.database, target_.user,
                     target_.host.empty() ? "unix" : target_.host, target_.port);
}

void ServerConnection::set_state(ServerState state) {
  state_ = state;
  state_since_ = clock_.now();
}

void ServerConnection::connect() {
  set_state(ServerState::kConnecting);
  pending_connect_ = net::connect_to(
      loop_, dns_, target_.host, target_.port, target_.tcp,
      [this](std::unique_ptr<net::Stream> stream, const std::string& error) {
        on_connected(std::move(stream), error);
      });
}

void ServerConnection::close() {
  if (state_ == ServerState::kClosed) return;
  set_state(ServerState::kClosed);
  pending_connect_.reset();
  peer_ = nullptr;
  release_cancel_requesters();
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
  if (splicer_.holding()) {
    // A header the filter held back (the message may be one it drops) goes in front.
    std::string joined = splicer_.take_held();
    joined.append(util::as_chars(data));
    on_read(util::as_bytes(joined));
    return;
  }
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
    case ServerState::kIdle:
    case ServerState::kBeingCanceled: {
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

void ServerConnection::logged_in() {
  set_state(ServerState::kIdle);
  owner_.on_server_ready(*this);
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
  internal_error_ = {};
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
  forget_statement_replies();
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
  if (ready_owed_ == 0 && at_boundary()) {
    auto finish = std::move(internal_done_);
    finish(last_status_ == 'I');
  }
}

void ServerConnection::send_cancel(std::function<void()> on_done) {
  spdlog::debug("{} sending cancel request for backend {}", log_prefix(),
                backend_pid_);
  // To the very address this server is on: a name may resolve elsewhere by now.
  const std::string& host = remote_address_.empty() ? target_.host : remote_address_;
  auto cancel = std::make_unique<ServerCancel>(
      loop_, dns_, host, target_.port, target_.tcp, backend_pid_, backend_key_, clock_.now(),
      [this](ServerCancel& done) { cancel_finished(done); });
  cancel->set_on_done(std::move(on_done));
  cancels_.push_back(std::move(cancel));
}

void ServerConnection::cancel_finished(ServerCancel& cancel) {
  auto it = std::find_if(cancels_.begin(), cancels_.end(),
                         [&](const auto& c) { return c.get() == &cancel; });
  if (it == cancels_.end()) return;
  std::function<void()> on_done = cancel.take_on_done();
  cancels_.erase(it);
  if (on_done) on_done();
  if (cancels_.empty() && state_ != ServerState::kClosed) owner_.on_server_cancels_done(*this);
}

void ServerConnection::release_cancel_requesters() {
  // The cancels themselves go on until this object is destroyed: one already written still
  // reaches PostgreSQL. Whoever asked is told now, so no CancelRequest connection hangs.
  std::vector<std::function<void()>> waiting;
  for (auto& c : cancels_) {
    if (auto on_done = c->take_on_done()) waiting.push_back(std::move(on_done));
  }
  for (auto& on_done : waiting) on_done();
}

CancelCounts ServerConnection::cancel_counts() const {
  CancelCounts counts;
  for (const auto& c : cancels_) {
    ++counts.connections;
    if (!c->requested_by_client()) continue;
    if (c->phase() == ServerCancel::Phase::kConnecting) {
      ++counts.requests_waiting;
    } else {
      ++counts.requests_active;
    }
  }
  return counts;
}

void ServerConnection::expire_cancels(util::TimePoint now, util::Duration limit) {
  // Given up on, not finished: the owner is not told, so a server waiting for them to reach
  // PostgreSQL stays held until cancel_wait_timeout closes it.
  std::vector<std::function<void()>> waiting;
  auto expired = [&](const std::unique_ptr<ServerCancel>& c) {
    if (now - c->started() < limit) return false;
    spdlog::warn("{} cancel request not answered in time (cancel_wait_timeout)",
                 log_prefix());
    if (auto on_done = c->take_on_done()) waiting.push_back(std::move(on_done));
    return true;
  };
  cancels_.erase(std::remove_if(cancels_.begin(), cancels_.end(), expired), cancels_.end());
  for (auto& on_done : waiting) on_done();
}

void ServerConnection::abandon_request() {
  if (copy_in_) {
    std::string out;
    protocol::append_copy_fail(out, "client disconnected");
    write(out);
    copy_in_ = false;
  } else if (busy()) {
    send_cancel();
  }
}

void ServerConnection::note_forwarded(char type, util::Bytes body) {
  if (type == 'Z') {
    char status = body.empty() ? 'I' : static_cast<char>(body[0]);
    note_ready(status);
    count_ready(status);
    copy_in_ = false;
  } else if (type == 'G') {
    copy_in_ = true;
  } else if (type == 'E' && peer_ != nullptr) {
    // A FATAL (pg_terminate_backend's 57P01, a shutdown) reaches the client as sent; the
    // close that follows then needs no error of the pooler's own.
    std::string severity = protocol::parse_error_fields(body).severity;
    if (severity == "FATAL" || severity == "PANIC") fatal_forwarded_ = true;
  } else if (type == 'S') {
    auto p = parse_parameter(body);
    if (p && parameters_.set(p->name, p->value) && peer_ != nullptr) {
      peer_->on_server_parameter(p->name, p->value);
    }
  }
}

void ServerConnection::handle_forwarding_bytes(util::Bytes data) {
  if (statements_.tracking()) {
    filter_forwarding_bytes(data);
    return;
  }
  std::size_t ready_end = 0;
  bool ok = scanner_.scan(data, [&](char type, util::Bytes body) {
    note_forwarded(type, body);
    if (type == 'Z') ready_end = scanner_.message_end();
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

void ServerConnection::filter_forwarding_bytes(util::Bytes data) {
  protocol::ClientStatements* names = peer_ != nullptr ? peer_->client_statements() : nullptr;
  protocol::StatementState state{names != nullptr ? *names : orphan_statements_, statements_};
  auto note = [this](char type, util::Bytes body) { note_forwarded(type, body); };
  auto spliced = splicer_.splice(data, scanner_, replies_, state, note);
  if (!spliced) {
    lost("server sent malformed data");
    return;
  }
  if (peer_ == nullptr || spliced->out.empty()) return;
  bool settled = spliced->ends_with_ready && ready_owed_ == 0 && replies_.idle();
  peer_->on_server_bytes(spliced->out, settled ? last_status_ : '\0');
}

void ServerConnection::forget_statement_replies() {
  if (replies_.idle()) return;
  replies_ = protocol::ReplyFilter();
  statements_.forget_all();
}

void ServerConnection::handle_internal_bytes(util::Bytes data) {
  bool finished = false;
  bool ok = scanner_.scan(data, [&](char type, util::Bytes body) {
    if (type == 'E') {
      auto error = protocol::parse_error_fields(body);
      spdlog::warn("{} pooler statement failed: {}", log_prefix(), error.message);
      if (!internal_failed_) internal_error_ = std::move(error);
      internal_failed_ = true;
    } else if (type == 'S') {
      if (auto p = parse_parameter(body)) parameters_.set(p->name, p->value);
    } else if (type == 'C') {
      // A reset query (server_reset_query, or _always in transaction mode).
      if (protocol::drops_all_statements(body)) statements_.clear();
      if (protocol::resets_all_settings(body)) applied_settings_.clear();
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
  if (finished && at_boundary()) {
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
  if (stream_ && !stream_->tls_error().empty()) {
    lost("server TLS failed: " + stream_->tls_error());
    return;
  }
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
  release_cancel_requesters();
  if (ServerPeer* peer = std::exchange(peer_, nullptr)) peer->on_server_lost(reason);
  auto done = std::move(internal_done_);
  if (done) done(false);
  owner_.on_server_closed(*this, reason);
}

}  // namespace pooler::backend
