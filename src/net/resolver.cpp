// UvResolver: uv_getaddrinfo, with each request freed by its own callback (libuv calls it even
// when cancelled), so a resolver destroyed mid-lookup leaves nothing dangling.
#include "pooler/net/resolver.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>

#include "pooler/net/defer.hpp"

namespace pooler::net {

struct UvResolver::Request {
  uv_getaddrinfo_t req{};
  UvResolver* owner = nullptr;  // null once the resolver is gone
  Done done;
};

namespace {

// Numeric text of each address, without repeats (getaddrinfo may list one per protocol).
std::vector<std::string> address_texts(const addrinfo* list) {
  std::vector<std::string> texts;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    char host[NI_MAXHOST] = {};
    // Numeric only: no lookup, so this does not block.
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST) !=
        0) {
      continue;
    }
    if (std::find(texts.begin(), texts.end(), host) == texts.end())
      texts.emplace_back(host);
  }
  return texts;
}

}  // namespace

UvResolver::~UvResolver() {
  for (Request* request : running_) {
    request->owner = nullptr;
    request->done = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&request->req));
  }
}

void UvResolver::resolve(const std::string& host, Done done) {
  auto* request = new Request;
  request->owner = this;
  request->done = std::move(done);
  request->req.data = request;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(
      loop_.raw(), &request->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* request = static_cast<Request*>(req->data);
        Done done = std::move(request->done);
        if (request->owner != nullptr)
          request->owner->running_.erase(request);
        delete request;
        util::Result<std::vector<std::string>> result =
            status < 0 ? util::Result<std::vector<std::string>>(util::Error{uv_strerror(status)})
                       : address_texts(res);
        uv_freeaddrinfo(res);
        if (result && result->empty())
          result = util::Error{"no IPv4 or IPv6 address"};
        if (done)
          done(std::move(result));
      },
      host.c_str(), nullptr, &hints);
  if (rc < 0) {
    Done failed = std::move(request->done);
    delete request;
    // Reported on the next turn, as a lookup that ran and failed would be.
    defer(loop_, [done = std::move(failed), rc]() mutable {
      if (done)
        done(util::Error{uv_strerror(rc)});
    });
    return;
  }
  running_.insert(request);
}

}  // namespace pooler::net
