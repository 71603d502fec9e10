// The bookkeeping of named prepared statements across pooled servers: one shared statement per
// (query, parameter types), each client's names for them, and each server's LRU of those it holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pooler/util/bytes.hpp"

namespace pooler::protocol {

// Immutable once made: clients and servers hold it by shared pointer, so it lives as long as one
// of them still names it.
struct PreparedStatement {
  std::string server_name;  // what PostgreSQL knows it as, e.g. pooler_7
  std::string query;
  std::string param_types;  // Parse's wire form: int16 count, then count int32 OIDs

  bool same_text(std::string_view q, util::Bytes types) const {
    return query == q && param_types == util::as_chars(types);
  }
};
using StatementRef = std::shared_ptr<const PreparedStatement>;

// SHOW STATS, with PgBouncer's meanings: named Parses from clients, Parses the pooler sent to
// servers (forwarded or injected), Binds of tracked statements.
struct PreparedCounters {
  std::uint64_t client_parse_count = 0;
  std::uint64_t server_parse_count = 0;
  std::uint64_t bind_count = 0;
};

namespace detail {
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
}  // namespace detail

// One per process (owned by the composition root, passed down): hands out the server names, so
// the same text prepared by any client on any server connection is one name there.
class StatementCatalog {
 public:
  explicit StatementCatalog(std::string prefix = "pooler_") : prefix_(std::move(prefix)) {}

  // The statement for this text and these types (Parse's wire form), made on first use.
  StatementRef intern(std::string_view query, util::Bytes param_types);
  // Live entries plus expired ones not yet swept.
  std::size_t size() const { return by_text_.size(); }

 private:
  std::string prefix_;
  std::uint64_t next_id_ = 1;
  // Weak: a statement nobody names any more is forgotten at the next sweep.
  std::unordered_map<std::string, std::weak_ptr<const PreparedStatement>, detail::StringHash,
                     std::equal_to<>>
      by_text_;
  std::size_t sweep_at_ = 64;
  std::string key_;  // reused for look-ups
};

// A client's statement names. The mapping is the client's; the statements are shared.
class ClientStatements {
 public:
  const StatementRef* find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
  }
  // A name prepared again replaces its old statement (PostgreSQL would refuse with 42P05; a
  // driver that does so has lost track, and replacing is what it meant).
  void set(std::string_view name, StatementRef statement);
  // Drops the name; returns the statement it named, if any.
  StatementRef erase(std::string_view name);
  // Drops the name only while it still names `statement` (undoing a Parse that did not happen).
  void erase_if_names(std::string_view name, const PreparedStatement* statement);
  void clear() { by_name_.clear(); }
  std::size_t size() const { return by_name_.size(); }

 private:
  std::unordered_map<std::string, StatementRef, detail::StringHash, std::equal_to<>> by_name_;
};

// The statements one server connection holds, least recently used last. Capacity is
// max_prepared_statements; 0 turns tracking off.
class ServerStatements {
 public:
  explicit ServerStatements(std::size_t capacity) : capacity_(capacity) {}

  bool tracking() const { return capacity_ > 0; }
  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return lru_.size(); }
  bool contains(const PreparedStatement* s) const { return index_.contains(s); }
  // Marks `s` most recently used; false when the server lacks it.
  bool touch(const PreparedStatement* s);
  // Records `s` as prepared (most recent). When that goes past capacity, the least recently used
  // one is dropped and returned: the caller must Close it on the server.
  StatementRef insert(StatementRef s);
  void erase(const PreparedStatement* s);
  // PostgreSQL dropped them all (DISCARD ALL, DEALLOCATE ALL reached it).
  void clear();
  // PostgreSQL is about to drop them all, unless the command fails: none is relied on any more,
  // and each is closed before the next Parse in case it is still there.
  void forget_all();

  // Statements the server may still hold although the LRU no longer lists them (an eviction
  // Close that PostgreSQL skipped after an error): closed before the next Parse, harmlessly if
  // they are gone already.
  void close_later(StatementRef s) { to_close_.push_back(std::move(s)); }
  std::vector<StatementRef>& to_close() { return to_close_; }

  // Least recently used last, for tests and SHOW SERVERS.
  std::vector<std::string> names() const;

 private:
  std::size_t capacity_;
  std::list<StatementRef> lru_;
  std::unordered_map<const PreparedStatement*, std::list<StatementRef>::iterator> index_;
  std::vector<StatementRef> to_close_;
};

}  // namespace pooler::protocol
