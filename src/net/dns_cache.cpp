// DnsCache: names to addresses through a Resolver, remembered for their TTL.
#include "pooler/net/dns_cache.hpp"

#include <algorithm>

namespace pooler::net {

DnsCache::Lookup::~Lookup() {
  if (cache_ != nullptr)
    cache_->forget(*this);
}

DnsCache::DnsCache(Resolver& resolver, const util::Clock& clock)
    : resolver_(resolver), clock_(clock) {}

DnsCache::~DnsCache() {
  // Callers still waiting are let go without an answer; lookups running find alive_ false.
  for (auto& [host, name] : names_) {
    for (Lookup* lookup : name.waiting)
      lookup->cache_ = nullptr;
  }
}

void DnsCache::set_ttls(util::Duration addresses, util::Duration failures) {
  ttl_ = addresses;
  failure_ttl_ = failures;
}

util::TimePoint DnsCache::expires(const Name& name) const {
  return name.resolved_at + (name.addresses.empty() ? failure_ttl_ : ttl_);
}

bool DnsCache::fresh(const Name& name, util::TimePoint now) const {
  return name.resolved && now < expires(name);
}

DnsCache::Answer DnsCache::answer(Name& name) {
  if (name.addresses.empty())
    return util::Error{name.error};
  return name.addresses[name.next++ % name.addresses.size()];
}

std::optional<DnsCache::Answer> DnsCache::cached(const std::string& host) {
  auto it = names_.find(host);
  if (it == names_.end() || !fresh(it->second, clock_.now()))
    return std::nullopt;
  return answer(it->second);
}

std::unique_ptr<DnsCache::Lookup> DnsCache::resolve(const std::string& host, Done done) {
  Name& name = names_[host];
  std::unique_ptr<Lookup> lookup(new Lookup(this, host, std::move(done)));
  name.waiting.push_back(lookup.get());
  if (!name.in_flight) {
    name.in_flight = true;
    std::weak_ptr<bool> alive = alive_;
    resolver_.resolve(host, [this, alive, host](util::Result<std::vector<std::string>> result) {
      if (alive.lock())
        on_resolved(host, std::move(result));
    });
  }
  return lookup;
}

void DnsCache::on_resolved(const std::string& host, util::Result<std::vector<std::string>> result) {
  Name& name = names_[host];
  name.in_flight = false;
  name.resolved = true;
  name.resolved_at = clock_.now();
  std::vector<std::string> dropped;
  if (result && !result->empty()) {
    for (const std::string& address : name.last_good) {
      if (std::find(result->begin(), result->end(), address) == result->end()) {
        dropped.push_back(address);
      }
    }
    name.addresses = std::move(*result);
    name.last_good = name.addresses;
    name.error.clear();
    if (name.next >= name.addresses.size())
      name.next = 0;
  } else {
    // A failed lookup drops nothing: a DNS outage should not close servers that work.
    name.addresses.clear();
    name.error = result ? "no address" : result.error();
  }
  if (!dropped.empty() && on_dropped_)
    on_dropped_(host, dropped);
  // One at a time: an answer may destroy other lookups still waiting, which then leave the list.
  while (!name.waiting.empty()) {
    Lookup* lookup = name.waiting.front();
    name.waiting.erase(name.waiting.begin());
    lookup->cache_ = nullptr;
    Done done = std::move(lookup->done_);
    if (done)
      done(answer(name));
  }
}

void DnsCache::forget(Lookup& lookup) {
  auto it = names_.find(lookup.host_);
  if (it == names_.end())
    return;
  auto& waiting = it->second.waiting;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), &lookup), waiting.end());
}

std::vector<DnsCache::HostView> DnsCache::hosts() const {
  std::vector<HostView> views;
  util::TimePoint now = clock_.now();
  for (const auto& [host, name] : names_) {
    if (!name.resolved)
      continue;
    HostView view{host, {}, name.addresses};
    if (fresh(name, now))
      view.ttl = expires(name) - now;
    views.push_back(std::move(view));
  }
  return views;
}

std::size_t DnsCache::names() const {
  return static_cast<std::size_t>(std::count_if(
      names_.begin(), names_.end(), [](const auto& entry) { return entry.second.resolved; }));
}

std::size_t DnsCache::queries() const {
  return static_cast<std::size_t>(std::count_if(
      names_.begin(), names_.end(), [](const auto& entry) { return entry.second.in_flight; }));
}

std::size_t DnsCache::waiting() const {
  std::size_t n = 0;
  for (const auto& [host, name] : names_)
    n += name.waiting.size();
  return n;
}

}  // namespace pooler::net
