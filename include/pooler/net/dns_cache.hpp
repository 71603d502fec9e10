// DnsCache: host names resolved without blocking the loop and remembered, as PgBouncer does:
// addresses for dns_max_ttl, failures for dns_nxdomain_ttl. Connects asking for a name at the
// same time share one lookup; a name with several addresses hands them out in turn. A lookup
// after the TTL that no longer lists an address is reported, so whoever connected there can move.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pooler/net/resolver.hpp"
#include "pooler/util/clock.hpp"
#include "pooler/util/result.hpp"

namespace pooler::net {

class DnsCache {
 public:
  // One address of the name (the next in turn), or why there is none.
  using Answer = util::Result<std::string>;
  using Done = std::function<void(Answer)>;
  // A re-resolution of `host` no longer lists `dropped`, which an earlier one did.
  using AddressesDropped =
      std::function<void(const std::string& host, const std::vector<std::string>& dropped)>;

  // A caller waiting for a lookup; destroying it first means `done` never runs.
  class Lookup {
   public:
    ~Lookup();
    Lookup(const Lookup&) = delete;
    Lookup& operator=(const Lookup&) = delete;

   private:
    friend class DnsCache;
    Lookup(DnsCache* cache, std::string host, Done done)
        : cache_(cache), host_(std::move(host)), done_(std::move(done)) {}
    DnsCache* cache_;  // null once answered
    std::string host_;
    Done done_;
  };

  // A cached name as SHOW DNS_HOSTS reports it.
  struct HostView {
    std::string hostname;
    util::Duration ttl{};  // left before the next connect resolves it again; zero if expired
    std::vector<std::string> addresses;  // empty when the last lookup failed
  };

  DnsCache(Resolver& resolver, const util::Clock& clock);
  ~DnsCache();
  DnsCache(const DnsCache&) = delete;
  DnsCache& operator=(const DnsCache&) = delete;

  // dns_max_ttl and dns_nxdomain_ttl; a change applies to the names already cached too.
  void set_ttls(util::Duration addresses, util::Duration failures);
  void set_on_dropped(AddressesDropped on_dropped) { on_dropped_ = std::move(on_dropped); }

  // The answer for `host` now if the cache holds a fresh one, else nullopt.
  std::optional<Answer> cached(const std::string& host);
  // Resolves `host` (joining the lookup of it already running), caches what it finds and calls
  // `done` with an answer later, never from inside this call.
  std::unique_ptr<Lookup> resolve(const std::string& host, Done done);

  // Every name resolved at least once, by name.
  std::vector<HostView> hosts() const;
  std::size_t names() const;
  // Lookups running, and the callers waiting for them.
  std::size_t queries() const;
  std::size_t waiting() const;

 private:
  struct Name {
    bool resolved = false;  // a lookup has finished
    bool in_flight = false;
    util::TimePoint resolved_at{};
    std::vector<std::string> addresses;  // of the last lookup; empty if it failed
    std::vector<std::string> last_good;  // of the last lookup that found any
    std::string error;                   // why the last lookup failed
    std::size_t next = 0;                // the address the next answer gives
    std::vector<Lookup*> waiting;
  };

  bool fresh(const Name& name, util::TimePoint now) const;
  util::TimePoint expires(const Name& name) const;
  Answer answer(Name& name);
  void on_resolved(const std::string& host, util::Result<std::vector<std::string>> result);
  void forget(Lookup& lookup);

  Resolver& resolver_;
  const util::Clock& clock_;
  util::Duration ttl_ = std::chrono::seconds(15);
  util::Duration failure_ttl_ = std::chrono::seconds(15);
  AddressesDropped on_dropped_;
  std::map<std::string, Name> names_;  // nodes stay put while callbacks run
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pooler::net
