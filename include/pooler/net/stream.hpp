// Stream: one connected socket (TCP or unix) with a coalescing write queue, read pause/resume
// for back-pressure, and close-after-flush, in plain text or TLS: once start_tls() is called
// its users read and write plaintext as before. libuv closes asynchronously, so the socket state
// lives in an internal block that outlives this owner until libuv's close callback frees it.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pooler/net/loop.hpp"
#include "pooler/net/tls_context.hpp"
#include "pooler/util/bytes.hpp"

namespace pooler::net {

// A TCP or unix stream handle, viewable as the libuv base types it extends.
union StreamHandle {
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_handle_t handle;
  uv_stream_t stream;
};

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // Bytes arrived; valid only during the call.
  virtual void on_read(util::Bytes data) = 0;
  // The peer closed, or the socket failed (status is a libuv error code, UV_EOF on clean EOF).
  virtual void on_disconnect(int status) = 0;
  // The write queue fell below the low watermark after having been above the high one.
  virtual void on_drained() {}
  // start_tls()'s handshake has completed. A failed one is an on_disconnect(UV_EPROTO), with
  // Stream::tls_error() saying why.
  virtual void on_tls_ready() {}
};

struct PeerInfo {
  std::string addr;  // "127.0.0.1", "::1", or "unix"
  int uid = -1;  // unix peers: the connecting process's uid
  // TCP: the port; unix peers: the connecting process's pid (below 2^22 on Linux). Packed with
  // is_unix, as each client keeps one.
  int port : 31 = 0;
  bool is_unix : 1 = false;
};

class StreamHandover;
class TlsSession;

class Stream {
 public:
  // Back-pressure thresholds on queued, unsent bytes.
  static constexpr std::size_t kHighWatermark = 256 * 1024;
  static constexpr std::size_t kLowWatermark = 64 * 1024;

  enum class Kind { kTcp, kUnix };

  // Takes an initialized, connected handle allocated with `new` as part of the stream's block;
  // use accept_from() / Connector to get one.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Accepts a pending connection from a listening handle; nullptr on failure.
  static std::unique_ptr<Stream> accept_from(Loop& loop, uv_stream_t* server, Kind kind);
  // An unconnected stream for connect(); nullptr on failure.
  static std::unique_ptr<Stream> create(Loop& loop, Kind kind);
  // A stream over a connected socket accepted outside libuv; nullptr (fd closed) on failure.
  static std::unique_ptr<Stream> adopt(Loop& loop, Kind kind, int fd);
  // Moving a connection to another loop (another worker's thread): hand_over() takes the socket
  // and the TLS state out of `stream`, which closes on its loop without touching the
  // connection (no FIN, no close_notify); take_over() makes a stream of them on the other
  // loop, not yet reading. Only a stream at rest moves: otherwise `stream` is left as it was
  // and the result is empty.
  static std::optional<StreamHandover> hand_over(std::unique_ptr<Stream>& stream);
  static std::unique_ptr<Stream> take_over(Loop& loop, StreamHandover handover);
  // Connected, nothing queued or being sent, no TLS handshake under way, not closing.
  bool at_rest() const;
  // Connects a stream from create(): TCP to `addr`, or a unix socket at `path`. `done` gets 0 or
  // a libuv error, and is not called if the stream is destroyed first. connect_tcp returns a
  // libuv error (and never calls `done`) when the attempt cannot even start.
  int connect_tcp(const sockaddr* addr, std::function<void(int)> done);
  void connect_unix(const std::string& path, std::function<void(int)> done);

  void set_handler(StreamHandler* handler);
  // Reading as the owner wants it; while the loop is suspended, a stream that wants to read
  // waits for the release unless it is exempt.
  void start_reading();
  void stop_reading();
  bool reading() const;
  // Keeps reading through a SUSPEND: the admin console, so RESUME can still arrive.
  void exempt_from_suspension();

  // Queues bytes for sending. Tries to send at once without copying; what the socket does not
  // take now is copied to the queue.
  void write(util::Bytes data);
  void write(std::string_view data) { write(util::as_bytes(data)); }

  // Turns the stream into TLS: everything read and written from now on is plaintext to the
  // owner. `peer_name` is the host connected to (client role). `received` holds ciphertext the
  // owner already read (a ClientHello that arrived without an SSLRequest). The handler may be
  // called before this returns (a `received` that is no TLS fails at once).
  void start_tls(std::shared_ptr<const TlsContext> context, const std::string& peer_name = {},
                 util::Bytes received = {});
  bool tls() const;
  // For a TLS stream (empty otherwise): why the handshake or the connection failed; PgBouncer's
  // "protocol/cipher/key exchange"; RFC 5929's tls-server-end-point hash; the peer
  // certificate's common name (verified ones only); the ALPN protocol agreed on.
  const std::string& tls_error() const;
  std::string tls_description() const;
  std::string tls_server_end_point() const;
  bool tls_peer_certificate() const;
  std::string tls_peer_common_name() const;
  std::string tls_alpn() const;
  std::size_t queued_bytes() const;
  bool above_high_watermark() const { return queued_bytes() >= kHighWatermark; }

  // Stops reading and closes once the queue is sent; the handler is detached at once.
  void close_after_flush();
  // Closes now, dropping anything queued; the handler is detached at once.
  void close();
  bool closed() const;

  Kind kind() const;
  PeerInfo peer() const;
  PeerInfo local() const;
  uv_stream_t* raw();

  struct Impl;
  explicit Stream(Impl* impl) : impl_(impl) {}

  // A Stream lives inside its Impl's block (one allocation per connection, not two): only
  // create() makes one, and deleting it leaves the freeing to ~Stream, which gives the block
  // back once libuv is done with the handle too.
  static void* operator new(std::size_t) = delete;
  static void operator delete(void*) {}

 private:
  Impl* impl_;
};

// A connection between two loops: its socket and TLS session, nothing of either loop. Made by
// Stream::hand_over() and consumed by Stream::take_over(); closes the socket if dropped.
class StreamHandover {
 public:
  StreamHandover(StreamHandover&& other) noexcept;
  StreamHandover& operator=(StreamHandover&& other) noexcept;
  ~StreamHandover();

 private:
  friend class Stream;
  StreamHandover(int fd, Stream::Kind kind, std::unique_ptr<TlsSession> tls);
  int fd_ = -1;
  Stream::Kind kind_ = Stream::Kind::kTcp;
  std::unique_ptr<TlsSession> tls_;
};

// Socket options applied to both client and server TCP connections (PgBouncer's tcp_* keys;
// 0 leaves the kernel's default).
struct TcpOptions {
  bool keepalive = true;
  int keepidle = 0;       // seconds
  int keepintvl = 0;      // seconds
  int keepcnt = 0;
  int user_timeout = 0;   // milliseconds
};

// Applies TCP_NODELAY and the keepalive and user-timeout options to a TCP handle.
void tune_tcp(uv_tcp_t* tcp, const TcpOptions& options);

}  // namespace pooler::net
