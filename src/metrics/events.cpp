// Label values of the event reasons.
#include "pooler/metrics/events.hpp"

namespace pooler::metrics {

namespace {

template <typename Enum, std::size_t N>
std::string_view pick(const std::string_view (&names)[N], Enum value) {
  static_assert(N == static_cast<std::size_t>(Enum::kCount), "one label per value");
  auto i = static_cast<std::size_t>(value);
  return i < N ? names[i] : std::string_view("unknown");
}

}  // namespace

std::string_view label(Refusal r) {
  static constexpr std::string_view kNames[] = {
      "max_client_conn",   "auth_failed", "not_allowed",    "unknown_database",
      "database_disabled", "saturated",   "login_timeout",  "protocol_error",
      "server_login_failed", "client_limit"};
  return pick(kNames, r);
}

std::string_view label(Timeout t) {
  static constexpr std::string_view kNames[] = {
      "query_timeout",        "query_wait_timeout",  "client_idle_timeout",
      "idle_transaction_timeout", "client_login_timeout", "server_idle_timeout",
      "server_lifetime",      "server_connect_timeout", "cancel_wait_timeout",
      "transaction_timeout"};
  return pick(kNames, t);
}

std::string_view label(ServerClose c) {
  static constexpr std::string_view kNames[] = {
      "idle_timeout",  "lifetime",     "paused",      "reconnect",        "surplus",
      "check_failed",  "reset_failed", "evicted",     "client_gone",      "cancel_wait_timeout",
      "connect_timeout", "login_failed", "server_gone", "shutdown"};
  return pick(kNames, c);
}

}  // namespace pooler::metrics
