// libFuzzer entry point for prepared-statement pooling (StatementRewriter + ReplyFilter): the
// input is a script of client messages, reply deliveries and server switches for two clients
// sharing server connections (tests/protocol/fake_postgres.hpp models PostgreSQL). Besides no
// crash and no UB: the pooler sends whole messages both ways; each client gets, reply for reply,
// what a server of its own would have sent; the LRU lists only statements the server holds.
// The first byte sets max_prepared_statements (0, 1, 2 or 5). Not modelled yet: a client that
// pipelines past a Sync whose block then fails (what was rewritten after that Sync assumed the
// block's Parses succeeded).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "../tests/protocol/fake_postgres.hpp"
#include "fuzz_check.hpp"

namespace {

using pooler::fuzz::require;
namespace t = pooler::testing;

constexpr std::string_view kNames[] = {"a", "b", "", "S_1", "zz"};
constexpr std::string_view kQueries[] = {"SELECT 1", "SELECT 2", "SELECT fail", "SELECT $1"};
constexpr std::string_view kSql[] = {"SELECT 1",        "DEALLOCATE ALL",   "discard all;",
                                     "DEALLOCATE a",    "deallocate \"b\"", "fail",
                                     "DEALLOCATE zz ;", "DISCARD PLANS"};
constexpr std::size_t kCapacities[] = {0, 1, 2, 5};

class Script {
 public:
  Script(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
  template <typename T, std::size_t N>
  const T& pick(const T (&items)[N]) {
    return items[next() % N];
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 4096) return 0;
  Script script(data, size);
  const std::size_t capacity = kCapacities[script.next() % 4];
  t::PoolRig rig(2, capacity);
  std::size_t client = 0;
  bool garbage = false;  // a malformed message: the model's answer to it is not PostgreSQL's
  while (!script.done()) {
    const std::uint8_t op = script.next() % 16;
    switch (op) {
      case 0: {
        std::string_view query = script.pick(kQueries);
        rig.send(client, 'P', t::parse_body(script.pick(kNames), query, query == "SELECT $1"));
        break;
      }
      case 1:
        rig.send(client, 'B', t::bind_body(script.pick(kNames)));
        break;
      case 2:
        rig.send(client, 'D', t::named_body('S', script.pick(kNames)));
        break;
      case 3:
        rig.send(client, 'D', t::named_body('P', ""));
        break;
      case 4:
        rig.send(client, 'E', t::execute_body());
        break;
      case 5:
        // The client waits for ReadyForQuery after a Sync: the rewriter's view of a block that
        // PostgreSQL then skips is only undone for requests up to that Sync (see the header).
        rig.send(client, 'S', "");
        rig.deliver();
        break;
      case 6:
        rig.send(client, 'H', "");
        break;
      case 7:
        rig.send(client, 'C', t::named_body('S', script.pick(kNames)));
        break;
      case 8:
        rig.send(client, 'C', t::named_body('P', ""));
        break;
      case 9:
        rig.send(client, 'Q', t::query_body(script.pick(kSql)));
        break;
      case 10:
        rig.deliver();
        break;
      case 11:
        // Transaction mode hands the server on only when nothing is in flight.
        rig.deliver();
        if (rig.replies().idle()) client = 1 - client;
        break;
      case 12:
        rig.deliver();
        if (rig.replies().idle()) rig.new_server(capacity);
        break;
      case 13: {
        const char types[] = {'P', 'B', 'D', 'C', 'Q'};
        char type = types[script.next() % 5];
        std::string body;
        for (std::uint8_t n = script.next() % 8; n > 0; --n) {
          body.push_back(static_cast<char>(script.next()));
        }
        rig.send(client, type, body);
        garbage = true;
        break;
      }
      case 14:
        rig.send(client, 'F', std::string(6, '\0'));
        break;
      default: {
        // A pipelined prepared execution of one statement.
        std::string_view name = script.pick(kNames);
        rig.send(client, 'P', t::parse_body(name, script.pick(kQueries)));
        rig.send(client, 'B', t::bind_body(name));
        rig.send(client, 'E', t::execute_body());
        break;
      }
    }
  }
  rig.send(client, 'S', "");
  rig.deliver();
  require(rig.replies().idle());

  bool ok = true;
  t::split_messages(rig.sent_to_server, ok);
  require(ok);
  for (std::size_t c = 0; c < 2; ++c) {
    t::split_messages(rig.client(c).through_pooler, ok);
    require(ok);
    // Tracking off passes names through, so clients sharing a server can collide: as without it.
    if (!garbage && capacity > 0) {
      require(t::shapes(rig.client(c).through_pooler) == t::shapes(rig.client(c).expected));
    }
  }
  // The LRU lists exactly what the server holds (a Bind never goes without its Parse, a Parse
  // never collides), but for statements due to be closed.
  if (!garbage && capacity > 0) {
    std::set<std::string> listed;
    for (const std::string& name : rig.server_statements().names()) {
      require(rig.server().statements().contains(name));
      listed.insert(name);
    }
    for (const auto& stale : rig.server_statements().to_close()) listed.insert(stale->server_name);
    for (const std::string& name : rig.server().statements()) require(listed.contains(name));
  }
  return 0;
}
