// ServerCancel: connect, send the 16-byte CancelRequest, wait for PostgreSQL to hang up.
#include "pooler/backend/server_cancel.hpp"

#include <spdlog/spdlog.h>

#include "pooler/protocol/message_builder.hpp"

namespace pooler::backend {

ServerCancel::ServerCancel(net::Loop& loop, net::DnsCache& dns, const std::string& host, int port,
                           const net::TcpOptions& tcp, std::int32_t pid, std::int32_t key,
                           util::TimePoint now, Finished finished)
    : started_(now), finished_(std::move(finished)) {
  protocol::append_cancel_request(packet_, pid, key);
  connect_ = net::connect_to(loop, dns, host, port, tcp,
                             [this](std::unique_ptr<net::Stream> stream, const std::string& error) {
                               on_connected(std::move(stream), error);
                             });
}

ServerCancel::~ServerCancel() = default;

void ServerCancel::on_connected(std::unique_ptr<net::Stream> stream, const std::string& error) {
  if (!stream) {
    spdlog::warn("cannot send cancel request to server: {}", error);
    finish();
    return;
  }
  stream_ = std::move(stream);
  stream_->set_handler(this);
  stream_->write(packet_);
  stream_->start_reading();
  phase_ = Phase::kSent;
}

void ServerCancel::on_disconnect(int) { finish(); }

void ServerCancel::finish() {
  // The callback may destroy this object: nothing of it is touched afterwards.
  auto finished = std::move(finished_);
  if (finished) finished(*this);
}

}  // namespace pooler::backend
