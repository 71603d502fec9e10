// ClientConnection's secret for a user missing from auth_file: auth_query's answer, from the
// cache or looked up on the look-up pool, and one fresh look-up when a cached one fails.
#include <spdlog/spdlog.h>

#include "pooler/frontend/client_connection.hpp"
#include "pooler/frontend/client_registry.hpp"
#include "pooler/protocol/sqlstate.hpp"

namespace pooler::frontend {

namespace ss = protocol::sqlstate;
using backend::AuthQueryAnswer;

namespace {

std::string cache_key(const LookupPlan& plan, const std::string& user) {
  return AuthCache::key(plan.database.name, plan.auth_user, plan.query, user);
}

}  // namespace

void ClientConnection::begin_authentication() {
  state_ = ClientState::kAuth;
  const config::UserSecret* secret = config_->find_secret(user_);
  // auth_type = any asks for no secret; the console's users must be in auth_file.
  bool wants_secret = auth_type_ != config::AuthType::kAny && !console_requested_;
  if (secret == nullptr && wants_secret) lookup_plan_ = lookup_plan(*config_, database_);
  if (!lookup_plan_) {
    authenticate_with(secret);
    return;
  }
  const auto& settings = config_->settings;
  const AuthQueryAnswer* cached = context_.clients.auth_cache().find(
      cache_key(*lookup_plan_, user_), context_.clock.now(),
      util::seconds_to_duration(settings.auth_query_cache_ttl));
  if (cached == nullptr) {
    look_up_secret();
    return;
  }
  answer_from_cache_ = true;
  ++context_.pools.events().auth_cache_hits;
  take_answer(*cached);
  authenticate_with(looked_up_ ? &*looked_up_ : nullptr);
}

void ClientConnection::look_up_secret() {
  const auto& settings = config_->settings;
  pool::Pool& pool =
      context_.pools.lookup_pool_for(*config_, lookup_plan_->database, lookup_plan_->auth_user);
  lookup_ = std::make_unique<SecretLookup>(
      pool, lookup_plan_->query, user_,
      [this](const AuthQueryAnswer& answer) { on_lookup_answer(answer); });
  // Its own bound, beside client_login_timeout: a connect and a wait, at most.
  double limit = settings.server_connect_timeout + settings.query_wait_timeout;
  lookup_deadline_ = limit > 0 ? context_.clock.now() + util::seconds_to_duration(limit)
                               : util::TimePoint::max();
  if (auto refused = lookup_->start()) {
    lookup_.reset();
    on_lookup_answer({AuthQueryAnswer::Kind::kError, {}, *refused});
  }
}

void ClientConnection::on_lookup_answer(const AuthQueryAnswer& answer) {
  // The look-up calls this last thing and may go now; its answer is a copy.
  std::unique_ptr<SecretLookup> finished = std::move(lookup_);
  metrics::Events& events = context_.pools.events();
  ++(answer.kind == AuthQueryAnswer::Kind::kSecret  ? events.auth_lookups_found
     : answer.kind == AuthQueryAnswer::Kind::kError ? events.auth_lookups_failed
                                                    : events.auth_lookups_missing);
  if (answer.kind == AuthQueryAnswer::Kind::kError) {
    // Says nothing of the user: the same for every name, and the detail only in the log.
    spdlog::warn("{} auth_query failed: {}", prefix(), answer.error);
    refuse(metrics::Refusal::kServerLoginFailed, ss::kConnectionFailure,
           "authentication lookup failed");
    return;
  }
  const auto& settings = config_->settings;
  context_.clients.auth_cache().store(cache_key(*lookup_plan_, user_), answer,
                                      context_.clock.now(),
                                      static_cast<std::size_t>(settings.auth_query_cache_size));
  std::optional<config::UserSecret> before = looked_up_;
  take_answer(answer);
  if (!looking_up_again_) {
    authenticate_with(looked_up_ ? &*looked_up_ : nullptr);
    return;
  }
  // The answer the client gave may be right for the new secret (cleartext and md5 can be
  // checked again; SCRAM cannot, and the next login uses the new secret).
  bool changed = looked_up_ && (!before || before->secret != looked_up_->secret);
  if (changed && authenticator_->accepts_with(*looked_up_)) {
    password_accepted();
    return;
  }
  auth_failed(authenticator_->failure_detail());
}

void ClientConnection::take_answer(const AuthQueryAnswer& answer) {
  if (answer.kind == AuthQueryAnswer::Kind::kSecret && !answer.secret.empty()) {
    looked_up_ = config::UserSecret{user_, answer.secret};
  } else {
    // No row, or a NULL secret (expired): the exchange runs against nothing and fails, exactly
    // as a wrong password does, so names cannot be probed.
    looked_up_.reset();
  }
}

bool ClientConnection::look_up_again() {
  if (!answer_from_cache_ || looking_up_again_ || !lookup_plan_) return false;
  looking_up_again_ = true;
  look_up_secret();
  return true;
}

}  // namespace pooler::frontend
