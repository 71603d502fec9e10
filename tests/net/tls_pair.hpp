// Two TlsSessions, server and client, pumped against each other in memory: what each sends is
// queued and handed to the other in chunks of a chosen size, as a socket might split it.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pooler/net/tls_context.hpp"
#include "pooler/net/tls_session.hpp"
#include "pooler/util/bytes.hpp"
#include "test_certificates.hpp"

namespace pooler::testing {

// One side's Io: ciphertext waits in `outbox` for the pump, plaintext gathers in `received`.
struct TlsEndpoint final : net::TlsSession::Io {
  std::string outbox;
  std::string received;
  int established = 0;
  std::function<void()> on_plaintext;  // what the owner does on each delivery, if anything

  void tls_output(util::Bytes ciphertext) override { outbox.append(util::as_chars(ciphertext)); }
  bool tls_plaintext(util::Bytes plaintext) override {
    received.append(util::as_chars(plaintext));
    if (on_plaintext) {
      on_plaintext();
    }
    return true;
  }
  void tls_established() override { ++established; }
};

// Counts what sessions report for metrics.
struct RecordingObserver final : net::TlsObserver {
  struct Handshake {
    net::TlsRole role;
    bool ok;
  };
  std::vector<Handshake> handshakes;
  std::vector<net::TlsRole> closed;

  void on_handshake(net::TlsRole role, bool ok, util::Duration) override {
    handshakes.push_back({role, ok});
  }
  void on_tls_closed(net::TlsRole role) override { closed.push_back(role); }

  int count(net::TlsRole role, bool ok) const {
    int n = 0;
    for (const Handshake& h : handshakes) {
      n += h.role == role && h.ok == ok ? 1 : 0;
    }
    return n;
  }
};

inline std::shared_ptr<const net::TlsContext> make_context(const net::TlsSettings& settings,
                                                           net::TlsObserver* observer = nullptr) {
  auto context = net::TlsContext::create(settings, observer);
  REQUIRE_MESSAGE(context.ok(), (context.ok() ? std::string() : context.error()));
  return *context;
}

// The pooler's client-facing side: the test server certificate, no client certificate asked.
inline net::TlsSettings server_settings(const TestPki& pki) {
  net::TlsSettings s;
  s.role = net::TlsRole::kServer;
  s.cert_file = pki.server.cert_file;
  s.key_file = pki.server.key_file;
  return s;
}

// A client trusting the test CA and checking as `verify` says.
inline net::TlsSettings client_settings(const TestPki& pki,
                                        net::TlsVerify verify = net::TlsVerify::kChainAndName) {
  net::TlsSettings s;
  s.role = net::TlsRole::kClient;
  s.verify = verify;
  s.ca_file = pki.ca_file;
  return s;
}

class TlsPair {
 public:
  using Status = net::TlsSession::Status;
  static constexpr std::size_t kWhole = std::numeric_limits<std::size_t>::max();

  TlsPair(std::shared_ptr<const net::TlsContext> server_context,
          std::shared_ptr<const net::TlsContext> client_context,
          const std::string& peer_name = "localhost")
      : server(std::make_unique<net::TlsSession>(std::move(server_context))),
        client(std::make_unique<net::TlsSession>(std::move(client_context), peer_name)) {}

  // The client's ClientHello, then ciphertext back and forth until neither side has more.
  void handshake(std::size_t chunk = kWhole) {
    server_status = server->start(server_io);
    client_status = client->start(client_io);
    pump(chunk);
  }

  // Delivers queued ciphertext both ways until it stops, `chunk` bytes per receive() call.
  // A side that failed or saw close_notify is fed no more; what was meant for it is dropped.
  void pump(std::size_t chunk = kWhole) {
    for (bool moved = true; moved;) {
      moved = deliver(client_io, *server, server_io, server_status, chunk);
      moved = deliver(server_io, *client, client_io, client_status, chunk) || moved;
    }
  }

  void client_send(std::string_view text) {
    client_status = client->send(util::as_bytes(text), client_io);
  }
  void server_send(std::string_view text) {
    server_status = server->send(util::as_bytes(text), server_io);
  }

  bool both_established() const { return server->established() && client->established(); }

  std::unique_ptr<net::TlsSession> server;
  std::unique_ptr<net::TlsSession> client;
  TlsEndpoint server_io;
  TlsEndpoint client_io;
  Status server_status = Status::kOpen;
  Status client_status = Status::kOpen;

 private:
  static bool deliver(TlsEndpoint& from, net::TlsSession& to, TlsEndpoint& to_io, Status& status,
                      std::size_t chunk) {
    if (from.outbox.empty()) {
      return false;
    }
    std::string bytes;
    bytes.swap(from.outbox);
    util::Bytes rest = util::as_bytes(bytes);
    while (!rest.empty() && status == Status::kOpen) {
      std::size_t n = std::min(chunk, rest.size());
      status = to.receive(rest.first(n), to_io);
      rest = rest.subspan(n);
    }
    return true;
  }
};

}  // namespace pooler::testing
