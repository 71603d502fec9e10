// Statement catalog, client name map and server LRU: the state the rewriter and reply filter
// keep in step with what PostgreSQL holds.
#include "pooler/protocol/prepared_statements.hpp"

#include <algorithm>

namespace pooler::protocol {

StatementRef StatementCatalog::intern(std::string_view query, util::Bytes param_types) {
  // The types go first: they have a fixed shape, so no query can be confused with another's
  // types.
  key_.assign(util::as_chars(param_types));
  key_.append(query);
  auto it = by_text_.find(std::string_view(key_));
  if (it != by_text_.end()) {
    if (StatementRef live = it->second.lock()) return live;
  }
  auto made = std::make_shared<PreparedStatement>();
  made->server_name = prefix_ + std::to_string(next_id_++);
  made->query.assign(query);
  made->param_types.assign(util::as_chars(param_types));
  if (it != by_text_.end()) {
    it->second = made;
  } else {
    by_text_.emplace(key_, made);
  }
  // Amortised sweep of statements no client or server names any more, so the catalog stays
  // proportional to what is live.
  if (by_text_.size() >= sweep_at_) {
    std::erase_if(by_text_, [](const auto& entry) { return entry.second.expired(); });
    sweep_at_ = std::max<std::size_t>(64, by_text_.size() * 2);
  }
  return made;
}

void ClientStatements::set(std::string_view name, StatementRef statement) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    it->second = std::move(statement);
  } else {
    by_name_.emplace(std::string(name), std::move(statement));
  }
}

StatementRef ClientStatements::erase(std::string_view name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  StatementRef statement = std::move(it->second);
  by_name_.erase(it);
  return statement;
}

void ClientStatements::erase_if_names(std::string_view name, const PreparedStatement* statement) {
  auto it = by_name_.find(name);
  if (it != by_name_.end() && it->second.get() == statement) by_name_.erase(it);
}

bool ServerStatements::touch(const PreparedStatement* s) {
  auto it = index_.find(s);
  if (it == index_.end()) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

StatementRef ServerStatements::insert(StatementRef s) {
  if (touch(s.get())) return nullptr;
  lru_.push_front(std::move(s));
  index_.emplace(lru_.front().get(), lru_.begin());
  if (lru_.size() <= capacity_) return nullptr;
  StatementRef evicted = std::move(lru_.back());
  index_.erase(evicted.get());
  lru_.pop_back();
  return evicted;
}

void ServerStatements::erase(const PreparedStatement* s) {
  auto it = index_.find(s);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void ServerStatements::clear() {
  lru_.clear();
  index_.clear();
  to_close_.clear();
}

void ServerStatements::forget_all() {
  for (StatementRef& s : lru_) to_close_.push_back(std::move(s));
  lru_.clear();
  index_.clear();
}

std::vector<std::string> ServerStatements::names() const {
  std::vector<std::string> out;
  for (const StatementRef& s : lru_) out.push_back(s->server_name);
  return out;
}

}  // namespace pooler::protocol
