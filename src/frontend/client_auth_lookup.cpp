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
  bool wants_secret = login_->auth_type != config::AuthType::kAny && !console_requested_;
  if (secret == nullptr && wants_secret) {
    if (auto plan = lookup_plan(*config_, database_)) {
      login_->lookup_plan = std::make_unique<LookupPlan>(std::move(*plan));
    }
  }
  if (!login_->lookup_plan) {
    authenticate_with(secret);
    return;
  }
  const auto& settings = config_->settings;
  const AuthQueryAnswer* cached = context_.clients.auth_cache().find(
      cache_key(*login_->lookup_plan, user_), context_.clock.now(),
      util::seconds_to_duration(settings.auth_query_cache_ttl));
  if (cached == nullptr) {
    look_up_secret();
    return;
  }
  login_->answer_from_cache = true;
  ++context_.pools.events().auth_cache_hits;
  take_answer(*cached);
  authenticate_with(login_->looked_up ? &*login_->looked_up : nullptr);
}

void ClientConnection::look_up_secret() {
  const auto& settings = config_->settings;
  const LookupPlan& plan = *login_->lookup_plan;
  pool::Pool& pool = context_.pools.lookup_pool_for(*config_, plan.database, plan.auth_user);
  login_->lookup = std::make_unique<SecretLookup>(
      pool, plan.query, user_,
      [this](const AuthQueryAnswer& answer) { on_lookup_answer(answer); });
  // Its own bound, beside client_login_timeout: a connect and a wait, at most.
  double limit = settings.server_connect_timeout + settings.query_wait_timeout;
  login_->lookup_deadline = limit > 0 ? context_.clock.now() + util::seconds_to_duration(limit)
                               : util::TimePoint::max();
  if (auto refused = login_->lookup->start()) {
    login_->lookup.reset();
    on_lookup_answer({AuthQueryAnswer::Kind::kError, {}, *refused});
  }
}

void ClientConnection::on_lookup_answer(const AuthQueryAnswer& answer) {
  // The look-up calls this last thing and may go now; its answer is a copy.
  std::unique_ptr<SecretLookup> finished = std::move(login_->lookup);
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
  context_.clients.auth_cache().store(cache_key(*login_->lookup_plan, user_), answer,
                                      context_.clock.now(),
                                      static_cast<std::size_t>(settings.auth_query_cache_size));
  std::optional<config::UserSecret> before = login_->looked_up;
  take_answer(answer);
  if (!login_->looking_up_again) {
    authenticate_with(login_->looked_up ? &*login_->looked_up : nullptr);
    return;
  }
  // The answer the client gave may be right for the new secret (cleartext and md5 can be
  // checked again; SCRAM cannot, and the next login uses the new secret).
  bool changed = login_->looked_up && (!before || before->secret != login_->looked_up->secret);
  if (changed && login_->authenticator->accepts_with(*login_->looked_up)) {
    password_accepted();
    return;
  }
  auth_failed(login_->authenticator->failure_detail());
}

void ClientConnection::take_answer(const AuthQueryAnswer& answer) {
  if (answer.kind == AuthQueryAnswer::Kind::kSecret && !answer.secret.empty()) {
    login_->looked_up = config::UserSecret{user_, answer.secret};
  } else {
    // No row, or a NULL secret (expired): the exchange runs against nothing and fails, exactly
    // as a wrong password does, so names cannot be probed.
    login_->looked_up.reset();
  }
}

bool ClientConnection::look_up_again() {
  if (!login_->answer_from_cache || login_->looking_up_again || !login_->lookup_plan) return false;
  login_->looking_up_again = true;
  look_up_secret();
  return true;
}

}  // namespace pooler::frontend
