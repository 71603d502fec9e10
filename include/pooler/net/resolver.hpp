// Resolver: a host name to its addresses, without blocking the loop. The real one runs
// getaddrinfo on libuv's thread pool; tests give DnsCache a fake one.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "pooler/net/loop.hpp"
#include "pooler/util/result.hpp"

namespace pooler::net {

class Resolver {
 public:
  // The name's addresses as text ("10.0.0.1", "::1"), in the resolver's order, or why not.
  using Done = std::function<void(util::Result<std::vector<std::string>> addresses)>;
  virtual ~Resolver() = default;
  // Starts a lookup; `done` runs once, later, never from inside this call.
  virtual void resolve(const std::string& host, Done done) = 0;
};

class UvResolver final : public Resolver {
 public:
  explicit UvResolver(Loop& loop) : loop_(loop) {}
  // Lookups still running are cancelled: their callbacks never run.
  ~UvResolver() override;
  UvResolver(const UvResolver&) = delete;
  UvResolver& operator=(const UvResolver&) = delete;

  void resolve(const std::string& host, Done done) override;

 private:
  struct Request;
  Loop& loop_;
  std::unordered_set<Request*> running_;
};

}  // namespace pooler::net
