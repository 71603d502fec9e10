// [databases] and [users] entry keys: one table per kind, each row naming its field and limits.
#include "entry_params.hpp"

#include <algorithm>
#include <cstdint>
#include <variant>
#include <vector>

#include "pooler/config/spelling.hpp"
#include "pooler/config/values.hpp"

namespace pooler::config {
namespace {

constexpr std::int64_t kIntMax = 2147483647;

// One key of a [databases] or [users] entry and where its value goes.
template <typename Entry>
struct EntryParam {
  std::string_view key;
  std::variant<std::string Entry::*, int Entry::*, std::optional<int> Entry::*,
               std::optional<double> Entry::*, std::optional<PoolMode> Entry::*,
               std::vector<int> Entry::*>
      field;
  std::int64_t min = 0;
  std::int64_t max = kIntMax;
  bool minus_one_unsets = false;          // query_wait_timeout=-1: use the [pooler] value
  std::vector<std::string_view> choices;  // a string field limited to these values
};

template <typename Entry, typename Field>
EntryParam<Entry> param(std::string_view key, Field Entry::*field, std::int64_t min = 0,
                        std::int64_t max = kIntMax) {
  EntryParam<Entry> row;
  row.key = key;
  row.field = field;
  row.min = min;
  row.max = max;
  return row;
}

template <typename Entry>
EntryParam<Entry> minus_one_unsets(EntryParam<Entry> row) {
  row.minus_one_unsets = true;
  return row;
}

template <typename Entry>
EntryParam<Entry> with_choices(EntryParam<Entry> row, std::vector<std::string_view> choices) {
  row.choices = std::move(choices);
  return row;
}

template <typename Entry>
std::optional<std::string> apply_param(const EntryParam<Entry>& param, Entry& entry,
                                       const std::string& value) {
  if (auto* field = std::get_if<std::string Entry::*>(&param.field)) {
    if (param.choices.empty()) {
      entry.*(*field) = value;
      return std::nullopt;
    }
    auto parsed = parse_choice(value, param.choices);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = *parsed;
  } else if (auto* field = std::get_if<int Entry::*>(&param.field)) {
    auto parsed = parse_int(value, param.min, param.max);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = static_cast<int>(*parsed);
  } else if (auto* field = std::get_if<std::optional<int> Entry::*>(&param.field)) {
    auto parsed = parse_int(value, param.min, param.max);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = static_cast<int>(*parsed);
  } else if (auto* field = std::get_if<std::optional<double> Entry::*>(&param.field)) {
    if (param.minus_one_unsets && trim(value) == "-1") {
      entry.*(*field) = std::nullopt;
      return std::nullopt;
    }
    auto parsed = parse_seconds(value);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = *parsed;
  } else if (auto* field = std::get_if<std::optional<PoolMode> Entry::*>(&param.field)) {
    auto parsed = parse_pool_mode(value);
    if (!parsed) {
      return parsed.error();
    }
    entry.*(*field) = *parsed;
  } else if (auto* field = std::get_if<std::vector<int> Entry::*>(&param.field)) {
    // A comma-separated list of integers, each within the limits; an empty item is a mistake.
    std::vector<int> items;
    std::string_view rest = value;
    while (true) {
      std::size_t comma = rest.find(',');
      auto parsed = parse_int(trim(rest.substr(0, comma)), param.min, param.max);
      if (!parsed) {
        return parsed.error();
      }
      items.push_back(static_cast<int>(*parsed));
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
    entry.*(*field) = std::move(items);
  }
  return std::nullopt;
}

const std::vector<EntryParam<DatabaseEntry>>& database_params() {
  using D = DatabaseEntry;
  static const std::vector<EntryParam<D>> params = {
      param("host", &D::host),
      param("port", &D::ports, 1, 65535),
      param("dbname", &D::dbname),
      param("user", &D::user),
      param("password", &D::password),
      param("auth_user", &D::auth_user),
      param("auth_query", &D::auth_query),
      param("auth_dbname", &D::auth_dbname),
      param("pool_size", &D::pool_size),
      param("min_pool_size", &D::min_pool_size),
      param("reserve_pool", &D::reserve_pool_size),
      param("reserve_pool_size", &D::reserve_pool_size),
      param("pool_mode", &D::pool_mode),
      param("max_db_connections", &D::max_db_connections),
      param("max_db_client_connections", &D::max_db_client_connections),
      param("server_lifetime", &D::server_lifetime),
      minus_one_unsets(param("query_wait_timeout", &D::query_wait_timeout)),
      param("connect_query", &D::connect_query),
      param("client_encoding", &D::client_encoding),
      param("datestyle", &D::datestyle),
      param("timezone", &D::timezone),
      param("application_name", &D::application_name),
      with_choices(param("load_balance_hosts", &D::load_balance_hosts), {"round-robin", "disable"}),
  };
  return params;
}

const std::vector<EntryParam<UserEntry>>& user_params() {
  using U = UserEntry;
  static const std::vector<EntryParam<U>> params = {
      param("pool_mode", &U::pool_mode),
      param("pool_size", &U::pool_size),
      param("reserve_pool_size", &U::reserve_pool_size),
      param("max_user_connections", &U::max_user_connections),
      param("max_user_client_connections", &U::max_user_client_connections),
      param("query_timeout", &U::query_timeout),
      param("query_wait_timeout", &U::query_wait_timeout),
      param("idle_transaction_timeout", &U::idle_transaction_timeout),
      param("transaction_timeout", &U::transaction_timeout),
      param("client_idle_timeout", &U::client_idle_timeout),
  };
  return params;
}

const std::vector<EntryParam<PeerEntry>>& peer_params() {
  using P = PeerEntry;
  static const std::vector<EntryParam<P>> params = {
      param("host", &P::host),
      param("port", &P::port, 1, 65535),
      param("pool_size", &P::pool_size),
  };
  return params;
}

template <typename Entry>
std::optional<std::string> apply_from(const std::vector<EntryParam<Entry>>& params, Entry& entry,
                                      std::string_view key, const std::string& value,
                                      const char* kind) {
  auto param = std::find_if(params.begin(), params.end(),
                            [&](const EntryParam<Entry>& p) { return p.key == key; });
  if (param == params.end()) {
    std::vector<std::string_view> keys;
    for (const EntryParam<Entry>& p : params) {
      keys.push_back(p.key);
    }
    std::string message = "unknown parameter '" + std::string(key) + "' in " + kind + " entry";
    if (auto meant = one_edit_suggestion(key, keys)) {
      message += "; did you mean \"" + std::string(*meant) + "\"?";
    }
    return message;
  }
  if (std::optional<std::string> problem = apply_param(*param, entry, value)) {
    return std::string(key) + ": " + *problem;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> apply_entry_param(DatabaseEntry& entry, std::string_view key,
                                             const std::string& value) {
  return apply_from(database_params(), entry, key, value, "database");
}

std::optional<std::string> apply_entry_param(UserEntry& entry, std::string_view key,
                                             const std::string& value) {
  return apply_from(user_params(), entry, key, value, "user");
}

std::optional<std::string> apply_entry_param(PeerEntry& entry, std::string_view key,
                                             const std::string& value) {
  return apply_from(peer_params(), entry, key, value, "peer");
}

std::optional<std::string> host_list_problem(const DatabaseEntry& entry) {
  std::vector<HostPort> servers = entry.servers();
  if (servers.size() > 1) {
    for (const HostPort& server : servers) {
      if (server.host.empty()) {
        return std::string("host: an empty item in the host list");
      }
    }
  }
  if (entry.ports.size() != 1 && entry.ports.size() != servers.size()) {
    return "port: " + std::to_string(entry.ports.size()) + " ports for " +
           std::to_string(servers.size()) + (servers.size() == 1 ? " host" : " hosts") +
           "; give one port for all hosts, or one per host";
  }
  return std::nullopt;
}

// `name` or `"quoted name"` ("" inside quotes is one quote), as PgBouncer's identifiers.
util::Result<std::string> unquote_name(std::string_view text) {
  if (text.empty() || text[0] != '"') {
    return std::string(text);
  }
  std::string name;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text[i] != '"') {
      name += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == '"') {
      name += '"';
      ++i;
    } else if (i + 1 == text.size()) {
      return name;
    } else {
      return util::Error{"unexpected text after the closing quote of the name"};
    }
  }
  return util::Error{"unterminated quoted name"};
}

}  // namespace pooler::config
