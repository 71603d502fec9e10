// Parameter tracking and the SET statements that re-sync a server for a client.
#include "pooler/backend/parameter_set.hpp"

#include <strings.h>

#include "pooler/protocol/message_builder.hpp"

namespace pooler::backend {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void ParameterSet::Iterator::load() {
  if (at_ >= packed_->size()) {
    at_ = packed_->size();
    return;
  }
  std::string_view all(*packed_);
  std::size_t name_end = all.find('\0', at_);
  std::size_t value_end = all.find('\0', name_end + 1);
  entry_ = {all.substr(at_, name_end - at_), all.substr(name_end + 1, value_end - name_end - 1)};
  next_ = value_end + 1;
}

const std::string& ParameterSet::packed() const {
  static const std::string kNone;
  return packed_ ? *packed_ : kNone;
}

std::string& ParameterSet::writable() {
  if (!packed_) {
    packed_ = std::make_shared<std::string>();
  } else if (packed_.use_count() > 1) {
    packed_ = std::make_shared<std::string>(*packed_);
  }
  return *packed_;
}

std::size_t ParameterSet::find(std::string_view name) const {
  for (auto it = begin(); it != end(); ++it) {
    if (iequals(it->first, name)) {
      return static_cast<std::size_t>(it->first.data() - packed().data());
    }
  }
  return std::string::npos;
}

bool ParameterSet::set(std::string_view name, std::string_view value) {
  std::size_t at = find(name);
  if (at == std::string::npos) {
    std::string& packed = writable();
    packed.append(name).push_back('\0');
    packed.append(value).push_back('\0');
    return true;
  }
  std::size_t value_at = packed().find('\0', at) + 1;
  std::size_t value_size = packed().find('\0', value_at) - value_at;
  if (std::string_view(packed()).substr(value_at, value_size) == value) return false;
  writable().replace(value_at, value_size, value);
  return true;
}

void ParameterInterner::share(ParameterSet& set) {
  if (!set.packed_) return;
  std::erase_if(known_, [](const std::weak_ptr<std::string>& known) { return known.expired(); });
  for (const auto& known : known_) {
    auto buffer = known.lock();
    if (buffer == set.packed_) return;
    if (*buffer == *set.packed_) {
      set.packed_ = std::move(buffer);
      return;
    }
  }
  if (set.packed_.use_count() == 1) set.packed_->shrink_to_fit();
  if (known_.size() >= kRemembered) known_.erase(known_.begin());
  known_.push_back(set.packed_);
}

std::optional<std::string_view> ParameterSet::get(std::string_view name) const {
  for (const auto& [key, value] : *this) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

std::size_t ParameterSet::size() const {
  return static_cast<std::size_t>(std::distance(begin(), end()));
}

std::vector<std::string> tracked_parameters(const std::vector<std::string>& extra) {
  // Every parameter PostgreSQL reports that a client can change (PgBouncer 1.20+ tracks all
  // reported ones); the rest it reports (server_version, is_superuser...) a SET cannot move.
  std::vector<std::string> names = {"client_encoding",  "DateStyle",
                                    "TimeZone",         "standard_conforming_strings",
                                    "application_name", "IntervalStyle",
                                    "default_transaction_read_only"};
  for (const auto& name : extra) {
    if (canonical_parameter(name, names).empty()) names.push_back(name);
  }
  return names;
}

std::string canonical_parameter(std::string_view name, const std::vector<std::string>& tracked) {
  for (const auto& t : tracked) {
    if (iequals(t, name)) return t;
  }
  return {};
}

std::string sync_statements(const ParameterSet& wanted, const ParameterSet& server,
                            const std::vector<std::string>& tracked, SyncMemo* memo) {
  if (memo != nullptr && memo->in_step(wanted, server)) return {};
  std::string sql;
  for (const auto& name : tracked) {
    auto want = wanted.get(name);
    if (!want) continue;
    auto have = server.get(name);
    if (have && *have == *want) continue;
    sql += "SET " + name + " = " + protocol::quote_literal(*want) + ";";
  }
  if (memo != nullptr && sql.empty()) memo->remember(wanted, server);
  return sql;
}

}  // namespace pooler::backend
