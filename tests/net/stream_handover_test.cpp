// Stream hand-over: a connection moves from a loop on one thread to a loop on another with its
// TLS state, losing and doubling no byte; a stream with bytes still queued does not move.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "loop_threads.hpp"
#include "pooler/net/mailbox.hpp"
#include "pooler/net/stream.hpp"
#include "tls_pair.hpp"

namespace {

using pooler::net::Loop;
using pooler::net::Mailbox;
using pooler::net::Stream;
using pooler::net::StreamHandover;
using pooler::net::testing::Recorder;
using pooler::net::testing::run_until;
namespace util = pooler::util;

// A loop on a thread of its own, which takes streams over and answers each read with
// "got:<bytes>". Its streams are touched only on its thread.
struct EchoWorker {
  struct Echo final : pooler::net::StreamHandler {
    Stream* stream = nullptr;
    void on_read(util::Bytes data) override {
      stream->write("got:" + std::string(util::as_chars(data)));
    }
    void on_disconnect(int) override {}
  };

  Loop loop;
  Mailbox mailbox{loop};
  std::unique_ptr<Stream> held;
  Echo echo;
  std::atomic<bool> stop{false};
  std::atomic<bool> took_over{false};
  std::thread thread;

  EchoWorker() {
    thread = std::thread([this] { run_until(loop, [this] { return stop.load(); }); });
  }
  // Hands `stream` to this worker's loop; false if it was not at rest.
  bool take(std::unique_ptr<Stream>& stream) {
    auto handover = Stream::hand_over(stream);
    if (!handover) return false;
    auto moving = std::make_shared<StreamHandover>(std::move(*handover));
    return mailbox.post([this, moving] {
      held = Stream::take_over(loop, std::move(*moving));
      if (!held) return;
      echo.stream = held.get();
      held->set_handler(&echo);
      held->start_reading();
      took_over = true;
    });
  }
  ~EchoWorker() {
    mailbox.post([this] {
      held.reset();
      stop = true;
    });
    thread.join();
    mailbox.close();
    loop.drain();
  }
};

// Reads from a plain socket until `want` has arrived or five seconds have gone.
std::string read_until(int fd, const std::string& want) {
  std::string got;
  for (int turn = 0; turn < 50 && got.find(want) == std::string::npos; ++turn) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

void socket_pair(int fds[2]) { REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0); }

}  // namespace

TEST_CASE("a stream handed to a loop on another thread goes on with the bytes that wait for it") {
  int fds[2];
  socket_pair(fds);
  Loop loop;
  auto stream = Stream::adopt(loop, Stream::Kind::kUnix, fds[0]);
  REQUIRE(stream);
  Recorder here;
  stream->set_handler(&here);
  stream->start_reading();
  REQUIRE(write(fds[1], "one", 3) == 3);
  REQUIRE(run_until(loop, [&] { return here.received == "one"; }));
  stream->stop_reading();
  // Arrives while the stream moves: it waits in the socket for the new loop.
  REQUIRE(write(fds[1], "two", 3) == 3);
  {
    EchoWorker worker;
    REQUIRE(worker.take(stream));
    CHECK_FALSE(stream);
    CHECK(read_until(fds[1], "got:two") == "got:two");
    REQUIRE(write(fds[1], "three", 5) == 5);
    CHECK(read_until(fds[1], "got:three") == "got:three");
    CHECK(worker.took_over);
  }
  // The old loop heard nothing after the move, not even a disconnect.
  run_until(loop, [] { return false; });
  CHECK(here.received == "one");
  CHECK(here.disconnects == 0);
  loop.drain();
  close(fds[1]);
}

TEST_CASE("a stream with bytes still queued is not at rest and stays where it is") {
  int fds[2];
  socket_pair(fds);
  Loop loop;
  auto stream = Stream::adopt(loop, Stream::Kind::kUnix, fds[0]);
  REQUIRE(stream);
  // More than the socket buffer holds, and the peer reads none of it.
  stream->write(std::string(4 * 1024 * 1024, 'x'));
  REQUIRE(stream->queued_bytes() > 0);
  CHECK_FALSE(stream->at_rest());
  CHECK_FALSE(Stream::hand_over(stream));
  REQUIRE(stream);
  CHECK(stream->queued_bytes() > 0);
  stream.reset();
  loop.drain();
  close(fds[1]);
}

TEST_CASE("a TLS stream moves to another loop with its session: the peer notices nothing") {
  pooler::testing::TestPki pki;
  auto server_context = pooler::testing::make_context(pooler::testing::server_settings(pki));
  auto client_context = pooler::testing::make_context(pooler::testing::client_settings(pki));
  int fds[2];
  socket_pair(fds);
  Loop loop;
  auto server = Stream::adopt(loop, Stream::Kind::kUnix, fds[0]);
  auto client = Stream::adopt(loop, Stream::Kind::kUnix, fds[1]);
  REQUIRE(server);
  REQUIRE(client);
  Recorder server_side, client_side;
  server->set_handler(&server_side);
  client->set_handler(&client_side);
  server->start_reading();
  client->start_reading();
  server->start_tls(server_context);
  client->start_tls(client_context, "localhost");
  REQUIRE(run_until(loop, [&] { return server_side.tls_ready == 1 && client_side.tls_ready == 1; }));
  CHECK(server->at_rest());
  {
    EchoWorker worker;
    REQUIRE(worker.take(server));
    REQUIRE(run_until(loop, [&] { return worker.took_over.load(); }));
    client->write("secret");
    CHECK(run_until(loop, [&] { return client_side.received == "got:secret"; }));
    client->write("again");
    CHECK(run_until(loop, [&] { return client_side.received == "got:secretgot:again"; }));
  }
  CHECK(client_side.disconnects == 0);
  client.reset();
  loop.drain();
}
