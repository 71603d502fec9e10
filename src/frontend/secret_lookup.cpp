// SecretLookup: the auth_query round trip on a leased server of the look-up pool.
#include "pooler/frontend/secret_lookup.hpp"

namespace pooler::frontend {

using backend::AuthQueryAnswer;

std::optional<LookupPlan> lookup_plan(const config::Config& config, const std::string& database) {
  auto entry = config.find_database(database);
  if (!entry) return std::nullopt;
  const config::Settings& settings = config.settings;
  auto pick = [](const std::string& own, const std::string& global) {
    return own.empty() ? global : own;
  };
  LookupPlan plan;
  plan.auth_user = pick(entry->auth_user, settings.auth_user);
  if (plan.auth_user.empty()) return std::nullopt;
  plan.query = pick(entry->auth_query, settings.auth_query);
  std::string where = pick(entry->auth_dbname, settings.auth_dbname);
  if (where.empty() || where == entry->name) {
    plan.database = std::move(*entry);
  } else if (auto other = config.find_database(where)) {
    plan.database = std::move(*other);
  } else {
    return std::nullopt;
  }
  return plan;
}

SecretLookup::SecretLookup(pool::Pool& pool, const std::string& query, const std::string& user,
                           Done done)
    : pool_(pool), request_(backend::auth_query_request(query, user)), done_(std::move(done)) {}

SecretLookup::~SecretLookup() {
  if (waiting_) pool_.cancel_wait(*this);
  if (lease_) lease_->detach();
}

std::optional<std::string> SecretLookup::start() {
  // Every host is failing its logins: the look-up would only wait for the retry.
  if (auto refusal = pool_.refusal()) return refusal->message;
  waiting_ = true;
  pool::ServerLease lease = pool_.acquire(*this);
  if (lease) on_server_granted(std::move(lease));
  return std::nullopt;
}

void SecretLookup::on_server_granted(pool::ServerLease lease) {
  waiting_ = false;
  lease_ = std::move(lease);
  lease_->attach(*this);
  lease_->send(util::as_bytes(request_), 1);
}

void SecretLookup::on_wait_failed(const std::string&, const std::string& message) {
  waiting_ = false;
  finish(failure(message));
}

void SecretLookup::on_server_bytes(util::Bytes data, char settled) {
  if (reply_.feed(data) != backend::AuthQueryReply::Status::kDone) return;
  lease_->detach();
  if (settled == 'I') {
    lease_.release();
  } else {
    lease_.discard();  // more was owed, or it is left in a transaction: not reusable
  }
  finish(reply_.answer());
}

void SecretLookup::on_server_lost(const std::string& reason) {
  lease_.forget();
  finish(failure("server connection lost: " + reason));
}

void SecretLookup::on_query_timeout() {
  // The pool has cancelled the query; it takes the server back once it has finished.
  lease_->detach();
  lease_.salvage();
  finish(failure("auth_query did not answer in time"));
}

AuthQueryAnswer SecretLookup::failure(std::string why) {
  return {AuthQueryAnswer::Kind::kError, {}, std::move(why)};
}

void SecretLookup::finish(AuthQueryAnswer answer) {
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(answer);  // may destroy this
}

}  // namespace pooler::frontend
