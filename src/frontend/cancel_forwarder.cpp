// Fire-and-forget cancel: connect, send the 16-byte request, close after it is sent.
#include "pooler/frontend/cancel_forwarder.hpp"

#include <spdlog/spdlog.h>

#include <memory>

#include "pooler/net/connector.hpp"
#include "pooler/net/defer.hpp"
#include "pooler/protocol/message_builder.hpp"

namespace pooler::frontend {

namespace {

struct CancelAttempt {
  std::unique_ptr<net::PendingConnect> connect;
};

}  // namespace

void forward_cancel(net::Loop& loop, const std::string& host, int port, std::int32_t pid,
                    std::int32_t key) {
  auto* attempt = new CancelAttempt;
  attempt->connect = net::connect_to(
      loop, host, port, false,
      [attempt, &loop, pid, key](std::unique_ptr<net::Stream> stream, const std::string& error) {
        if (stream) {
          std::string out;
          protocol::append_cancel_request(out, pid, key);
          stream->write(out);
          stream->close_after_flush();
        } else {
          spdlog::warn("cannot forward cancel request to server: {}", error);
        }
        // The connect machinery is still on the stack: free the attempt afterwards.
        net::defer(loop, [attempt] { delete attempt; });
      });
}

}  // namespace pooler::frontend
