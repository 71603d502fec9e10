// ParameterSet: the session parameters the pooler keeps in step between a client and whichever
// server it is given (client_encoding, DateStyle, TimeZone, ...), keyed case-insensitively.
// Every client and server holds one for its lifetime, so the set is one packed string
// ("name\0value\0name\0value\0"): one allocation, no per-entry string headers, and shared
// between equal sets by a ParameterInterner (copied on the first change). Names and values come
// from the protocol's NUL-terminated strings, so neither can hold a NUL.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pooler::backend {

class ParameterSet {
 public:
  using Entry = std::pair<std::string_view, std::string_view>;  // valid until the next change

  // The entries in the order they were first set.
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = const Entry*;
    using reference = const Entry&;

    Iterator(const std::string& packed, std::size_t at) : packed_(&packed), at_(at) { load(); }
    const Entry& operator*() const { return entry_; }
    const Entry* operator->() const { return &entry_; }
    Iterator& operator++() {
      at_ = next_;
      load();
      return *this;
    }
    bool operator==(const Iterator& other) const { return at_ == other.at_; }
    bool operator!=(const Iterator& other) const { return at_ != other.at_; }

   private:
    void load();
    const std::string* packed_;
    std::size_t at_;
    std::size_t next_ = 0;
    Entry entry_;
  };

  // Sets a value; returns true if it changed.
  bool set(std::string_view name, std::string_view value);
  std::optional<std::string_view> get(std::string_view name) const;
  Iterator begin() const { return Iterator(packed(), 0); }
  Iterator end() const { return Iterator(packed(), packed().size()); }
  std::size_t size() const;
  bool empty() const { return packed().empty(); }
  void clear() { packed_.reset(); }
  // The same buffer, not only equal values: true only while neither set has changed since one
  // was copied from the other (or both were interned together).
  bool shares_buffer_with(const ParameterSet& other) const {
    return packed_ != nullptr && packed_ == other.packed_;
  }

 private:
  friend class ParameterInterner;
  const std::string& packed() const;
  // The buffer to change: a shared one is copied first.
  std::string& writable();
  // Where `name`'s entry starts in the buffer, or npos.
  std::size_t find(std::string_view name) const;
  std::shared_ptr<std::string> packed_;  // null when empty
};

// Lets equal parameter sets share one buffer: the clients of a pool mostly hold the same values,
// and a client idles far longer than it changes them. One per loop (its sets are not shared
// across threads); remembers a bounded number of distinct sets.
class ParameterInterner {
 public:
  static constexpr std::size_t kRemembered = 64;
  // Points `set` at an equal set's buffer if one is known, else makes its own buffer known.
  void share(ParameterSet& set);

 private:
  std::vector<std::weak_ptr<std::string>> known_;
};

// The parameters PgBouncer tracks by default, plus the configured extras; names in the case
// PostgreSQL reports them.
std::vector<std::string> tracked_parameters(const std::vector<std::string>& extra);

// The canonical spelling of a tracked parameter (e.g. "datestyle" -> "DateStyle"), or empty if
// `name` is not tracked.
std::string canonical_parameter(std::string_view name, const std::vector<std::string>& tracked);

// The pair of sets a sync last found in step. Sets copy on change, so while both still share
// their buffers with the remembered pair they are still in step: the sync a transaction-mode
// server does at every assignment then costs two pointer compares.
class SyncMemo {
 public:
  bool in_step(const ParameterSet& wanted, const ParameterSet& server) const {
    return wanted_.shares_buffer_with(wanted) && server_.shares_buffer_with(server);
  }
  void remember(const ParameterSet& wanted, const ParameterSet& server) {
    wanted_ = wanted;
    server_ = server;
  }

 private:
  ParameterSet wanted_;
  ParameterSet server_;
};

// SET statements that bring `server` to `wanted` for the tracked names; empty when in step.
// With a memo, a pair found in step is remembered and not compared again.
std::string sync_statements(const ParameterSet& wanted, const ParameterSet& server,
                            const std::vector<std::string>& tracked, SyncMemo* memo = nullptr);

}  // namespace pooler::backend
