// libFuzzer entry point for the TLS server side: a net::TlsSession in the server role, with a
// certificate made at start-up, is fed the input as ciphertext from a client, split at points
// the input chooses. Besides no crash and no UB: nothing ever decrypts and the handshake never
// completes (arbitrary bytes cannot know the keys), a failure says why and stays a failure,
// the observer hears of exactly one failed handshake when the session goes, and the unchanged
// ClientHello is answered.
//
// Byte 0 is a control byte: bits 0-1 choose the server context (plain; demanding a client
// certificate, with ALPN; TLS 1.2 only; TLS 1.3 only), bit 2 overlays the rest of the input on a
// real ClientHello made at start-up (byte 1 says where) so that the fuzzer reaches past the
// parsing of the first message without any committed seed. Bytes 1 and 2 are the split points.
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "../tests/net/test_certificates.hpp"
#include "fuzz_check.hpp"
#include "pooler/net/tls_context.hpp"
#include "pooler/net/tls_session.hpp"
#include "pooler/util/bytes.hpp"

namespace {

namespace net = pooler::net;
using pooler::fuzz::require;
using Status = net::TlsSession::Status;

struct CountingObserver final : net::TlsObserver {
  int good = 0;
  int failed = 0;
  int closed = 0;
  void on_handshake(net::TlsRole, bool ok, pooler::util::Duration) override {
    ++(ok ? good : failed);
  }
  void on_tls_closed(net::TlsRole) override { ++closed; }
};

struct Collector final : net::TlsSession::Io {
  std::string output;
  bool plaintext = false;
  bool established = false;
  void tls_output(pooler::util::Bytes ciphertext) override {
    output.append(pooler::util::as_chars(ciphertext));
  }
  bool tls_plaintext(pooler::util::Bytes) override {
    plaintext = true;
    return true;
  }
  void tls_established() override { established = true; }
};

struct Setup {
  CountingObserver observer;
  std::array<std::shared_ptr<const net::TlsContext>, 4> servers;
  std::string client_hello;
};

std::shared_ptr<const net::TlsContext> context(const net::TlsSettings& settings,
                                               net::TlsObserver* observer) {
  auto made = net::TlsContext::create(settings, observer);
  require(made.ok());
  return *made;
}

// Certificates are written to a temporary directory only while the contexts load them.
Setup* make_setup() {
  auto* setup = new Setup;
  pooler::testing::TempDir dir;
  pooler::testing::TestCa ca("pooler fuzz CA");
  pooler::testing::LeafSpec spec;
  spec.common_name = "pooler fuzz server";
  spec.dns_names = {"localhost"};
  pooler::testing::IssuedCertificate leaf = ca.issue(spec);
  net::TlsSettings plain;
  plain.role = net::TlsRole::kServer;
  plain.cert_file = dir.write("server.crt", leaf.cert_pem);
  plain.key_file = dir.write("server.key", leaf.key_pem, 0600);
  const std::string ca_file = dir.write("ca.crt", ca.certificate().cert_pem);

  net::TlsSettings demanding = plain;
  demanding.verify = net::TlsVerify::kChain;
  demanding.ca_file = ca_file;
  demanding.alpn = "postgresql";
  net::TlsSettings tls12 = plain;
  tls12.protocols = "tlsv1.2";
  net::TlsSettings tls13 = plain;
  tls13.protocols = "tlsv1.3";
  setup->servers = {context(plain, &setup->observer), context(demanding, &setup->observer),
                    context(tls12, &setup->observer), context(tls13, &setup->observer)};

  net::TlsSettings client;
  client.role = net::TlsRole::kClient;
  client.protocols = "all";
  client.alpn = "postgresql";
  net::TlsSession hello(context(client, nullptr), "localhost");
  Collector io;
  require(hello.start(io) == Status::kOpen);
  setup->client_hello = io.output;
  require(!setup->client_hello.empty());
  return setup;
}

Setup& setup() {
  static Setup* made = make_setup();
  return *made;
}

// The ciphertext the session is fed: the input itself, or the input laid over a ClientHello.
std::string ciphertext(const std::uint8_t* data, std::size_t size, bool overlay) {
  std::string rest(reinterpret_cast<const char*>(data), size);
  if (!overlay) {
    return rest;
  }
  std::string hello = setup().client_hello;
  std::size_t at = 0;
  if (!rest.empty()) {
    at = static_cast<unsigned char>(rest[0]) * hello.size() / 256;
    rest.erase(0, 1);
  }
  hello.replace(at, std::min(rest.size(), hello.size() - at), rest);
  return hello;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) {
    return -1;
  }
  Setup& s = setup();
  const std::uint8_t control = data[0];
  const std::string input = ciphertext(data + 3, size - 3, (control & 4) != 0);
  // Three pieces: [0, a), [a, b), [b, end), each handed over in one receive() call.
  std::size_t a = input.empty() ? 0 : data[1] * input.size() / 255;
  std::size_t b = input.empty() ? 0 : data[2] * input.size() / 255;
  if (a > b) {
    std::swap(a, b);
  }
  const int failed_before = s.observer.failed;
  {
    net::TlsSession server(s.servers[control & 3]);
    Collector io;
    Status status = server.start(io);
    require(status == Status::kOpen);
    pooler::util::Bytes bytes = pooler::util::as_bytes(input);
    const std::pair<std::size_t, std::size_t> pieces[] = {{0, a}, {a, b}, {b, input.size()}};
    for (auto [from, to] : pieces) {
      Status next = server.receive(bytes.subspan(from, to - from), io);
      if (status == Status::kFailed) {
        require(next == Status::kFailed);  // a failed session stays failed
      }
      status = next;
    }
    require(!server.established() && !io.established && !io.plaintext);
    require(status == Status::kOpen || status == Status::kFailed);
    require((status == Status::kFailed) == !server.error().empty());
    require(server.description().empty() && server.server_end_point().empty());
    require(!server.peer_certificate_present() && server.peer_common_name().empty());
    if (status == Status::kFailed) {
      require(s.observer.failed == failed_before + 1);
    }
    // The overlay's ClientHello itself, however split, is answered (and the fuzzer gets there).
    if ((control & 4) != 0 && input == s.client_hello) {
      require(status == Status::kOpen && !io.output.empty());
    }
  }
  require(s.observer.failed == failed_before + 1);
  require(s.observer.good == 0 && s.observer.closed == 0);
  ERR_clear_error();
  return 0;
}
